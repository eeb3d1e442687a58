"""Ingest and incremental build: pull every source, run dbt, publish the serving file, on `ingest_cron`.

The cron comes from env `TEKTON_WAREHOUSE_INGEST_CRON`, else `ingest_cron` in the sources config (default every 15
minutes). The daily summary has its own job and schedule in `summary/schedules.py`.
"""

from __future__ import annotations

import os

import dagster as dg

from etl.config import config_file_for, load_sources_config, resolve_home
from etl.defs.dbt.assets import tekton_dbt_models
from etl.defs.kubernetes.assets import KUBERNETES_KEY
from etl.defs.serving.assets import SERVING_KEY
from etl.defs.tekton_results.assets import RESULTS_KEY
from etl.errors import ConfigError

INGEST_CRON_ENV = "TEKTON_WAREHOUSE_INGEST_CRON"


def ingest_cron() -> str:
    cron = os.environ.get(INGEST_CRON_ENV) or load_sources_config(config_file_for(resolve_home())).ingest_cron
    try:
        dg.ScheduleDefinition(name="cron_probe", cron_schedule=cron, target="*")
    except dg.DagsterInvalidDefinitionError:
        raise ConfigError(
            f"ingest_cron {cron!r} is not a valid cron expression (e.g. '*/15 * * * *')"
        ) from None
    return cron


ingest_and_build_job = dg.define_asset_job(
    "ingest_and_build_job",
    selection=dg.AssetSelection.assets(RESULTS_KEY, KUBERNETES_KEY, SERVING_KEY)
    | dg.AssetSelection.assets(tekton_dbt_models),
    description="Pull every source incrementally, build the dbt models and publish tekton.duckdb.",
)

ingest_and_build_schedule = dg.ScheduleDefinition(
    name="ingest_and_build_schedule",
    job=ingest_and_build_job,
    cron_schedule=ingest_cron(),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
