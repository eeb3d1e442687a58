"""The daily summary job and its schedule: every day at `summary_time_utc` (default 06:00) for the previous UTC
day. The time comes from env `TEKTON_WAREHOUSE_SUMMARY_TIME_UTC`, else the sources config."""

from __future__ import annotations

import dagster as dg

from etl.defs.settings import summary_time_utc
from etl.defs.summary.assets import daily_summary

daily_summary_job = dg.define_asset_job(
    "daily_summary_job",
    selection=dg.AssetSelection.assets(daily_summary),
    partitions_def=daily_summary.partitions_def,
    description="Write (and deliver) the daily reliability summary for one UTC day.",
)

_hour, _minute = summary_time_utc()
daily_summary_schedule = dg.build_schedule_from_partitioned_job(
    daily_summary_job,
    name="daily_summary_schedule",
    hour_of_day=_hour,
    minute_of_hour=_minute,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
