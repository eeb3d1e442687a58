"""Build the daily reliability summary for one UTC day and write it as JSON, Markdown and HTML.

The summary reads only the published serving file (`<home>/tekton.duckdb`), read-only, so it runs while the ETL is
writing and sees one consistent snapshot. Its content depends only on the marts: no wall-clock time is written, so
rebuilding a day from the same marts gives byte-identical files (the Dagster runs and the tests rely on that).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from etl.config import WarehousePaths
from etl.errors import WarehouseError
from etl.summary import queries
from etl.summary.render import render_html, render_markdown

SUMMARY_SCHEMA_VERSION = 1
DEFAULT_FLAKY_WINDOW_DAYS = 30


class SummaryError(WarehouseError):
    """The summary cannot be built: no published file, missing marts, or no data for the day."""


@dataclass(frozen=True)
class SummaryFiles:
    """Where one day's summary landed, plus its content (the JSON document) for delivery."""

    day: date
    json_path: Path
    markdown_path: Path
    html_path: Path
    summary: dict[str, Any]


@contextmanager
def open_serving(paths: WarehousePaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the published file, with UTC as the session time zone (days are UTC days)."""
    if not paths.serving_db.exists():
        raise SummaryError(
            f"no published warehouse at {paths.serving_db}; run 'tekton-warehouse build' (or the Dagster build) first"
        )
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def newest_complete_day(con: duckdb.DuckDBPyConnection) -> date:
    """The newest UTC day the data has fully passed: the day before the newest completion in the marts."""
    row = con.execute("select max(cast(completed_at as date)) from marts.fct_pipeline_runs").fetchone()
    if not row or row[0] is None:
        raise SummaryError(
            "the published marts hold no completed PipelineRun yet; ingest and build some history first"
        )
    return row[0] - timedelta(days=1)


def collect_summary(
    con: duckdb.DuckDBPyConnection, day: date, flaky_window_days: int = DEFAULT_FLAKY_WINDOW_DAYS
) -> dict[str, Any]:
    """The summary document for `day`, computed from the marts on `con`."""
    newest = con.execute("select max(completed_at) from marts.fct_pipeline_runs").fetchone()[0]
    totals = queries.run_totals(con, day)
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "day": day.isoformat(),
        "data_through": newest.isoformat() if newest else None,
        "day_complete": bool(newest and day < newest.date()),
        "runs": {
            key: totals[key]
            for key in ("day", "baseline", "success_rate_change", "failing_run_uids", "trend")
        },
        "error_budget": totals["error_budget"],
        "regressions": queries.regressions(con, day),
        "newly_flaky": queries.newly_flaky(con, day, flaky_window_days),
        "failure_causes": queries.failure_causes(con, day),
        "duration_increases": queries.duration_increases(con, day),
        "queue": queries.queue_times(con, day),
        "supply_chain": queries.supply_chain(con, day),
    }


def _write_atomically(path: Path, text: str) -> None:
    """Readers (and a re-run) never see a half-written report."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def summary_json_text(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_summary(
    paths: WarehousePaths, day: date | None = None, flaky_window_days: int = DEFAULT_FLAKY_WINDOW_DAYS
) -> SummaryFiles:
    """Write `<home>/reports/daily/D.{json,md,html}` for UTC day `day` (default: the newest complete day)."""
    try:
        with open_serving(paths) as con:
            chosen = day or newest_complete_day(con)
            summary = collect_summary(con, chosen, flaky_window_days)
    except duckdb.CatalogException as exc:
        missing = str(exc).splitlines()[0]
        raise SummaryError(
            f"{paths.serving_db} lacks a mart the summary needs ({missing}); rebuild with 'tekton-warehouse build'"
        ) from None
    out_dir = paths.daily_reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = chosen.isoformat()
    files = SummaryFiles(
        day=chosen,
        json_path=out_dir / f"{stem}.json",
        markdown_path=out_dir / f"{stem}.md",
        html_path=out_dir / f"{stem}.html",
        summary=summary,
    )
    _write_atomically(files.json_path, summary_json_text(summary))
    _write_atomically(files.markdown_path, render_markdown(summary))
    _write_atomically(files.html_path, render_html(summary))
    return files


def load_summary(paths: WarehousePaths, day: date) -> dict[str, Any]:
    """Read back a summary already on disk (delivery retries and alerts reuse it instead of recomputing)."""
    path = paths.daily_reports_dir / f"{day.isoformat()}.json"
    if not path.exists():
        raise SummaryError(
            f"no summary for {day} at {path}; run 'tekton-warehouse summary --date {day}' first"
        )
    return json.loads(path.read_text(encoding="utf-8"))
