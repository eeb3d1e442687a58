"""The daily reliability summary: marts in, JSON / Markdown / HTML out, optionally delivered to chat and webhooks.

`build_summary(paths, day)` is the one entry point; it reads only the published serving file, so it never competes
with the ETL for the warehouse writer lock.
"""

from etl.summary.report import SummaryFiles, build_summary, newest_complete_day

__all__ = ["SummaryFiles", "build_summary", "newest_complete_day"]
