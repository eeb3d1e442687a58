"""The daily summary job and its schedule: every day at `summary_time_utc` (default 06:00) for the previous UTC
day. The time comes from env `TEKTON_WAREHOUSE_SUMMARY_TIME_UTC`, else the sources config."""

from __future__ import annotations

import os
import re

import dagster as dg

from etl.config import config_file_for, load_sources_config, resolve_home
from etl.defs.summary.assets import daily_summary
from etl.errors import ConfigError

SUMMARY_TIME_ENV = "TEKTON_WAREHOUSE_SUMMARY_TIME_UTC"
_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def summary_time_utc() -> tuple[int, int]:
    """(hour, minute) of the daily summary run."""
    text = (
        os.environ.get(SUMMARY_TIME_ENV)
        or load_sources_config(config_file_for(resolve_home())).summary_time_utc
    )
    match = _HH_MM.match(text.strip())
    if not match:
        raise ConfigError(
            f"summary_time_utc {text!r} is not a time of day; write it as HH:MM (UTC), e.g. 06:00"
        )
    return int(match.group(1)), int(match.group(2))


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
