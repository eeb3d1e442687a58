"""Schedule settings: env var first, then the sources config, validated with a message that says what to write."""

from __future__ import annotations

import os
import re

import dagster as dg

from etl.config import config_file_for, load_sources_config, resolve_home
from etl.errors import ConfigError

INGEST_CRON_ENV = "TEKTON_WAREHOUSE_INGEST_CRON"
SUMMARY_TIME_ENV = "TEKTON_WAREHOUSE_SUMMARY_TIME_UTC"
_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def ingest_cron() -> str:
    """Cron of the ingest-and-build schedule (default every 15 minutes)."""
    cron = os.environ.get(INGEST_CRON_ENV) or load_sources_config(config_file_for(resolve_home())).ingest_cron
    try:
        dg.ScheduleDefinition(name="cron_probe", cron_schedule=cron, target="*")
    except dg.DagsterInvalidDefinitionError:
        raise ConfigError(
            f"ingest_cron {cron!r} is not a valid cron expression (e.g. '*/15 * * * *')"
        ) from None
    return cron


def summary_time_utc() -> tuple[int, int]:
    """(hour, minute) of the daily summary run (default 06:00 UTC)."""
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
