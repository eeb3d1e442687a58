"""Ingest and incremental build: pull every source, run dbt, publish the serving file, on `ingest_cron`.

The cron comes from env `TEKTON_WAREHOUSE_INGEST_CRON`, else `ingest_cron` in the sources config (default every 15
minutes). The daily summary has its own job and schedule in `summary/schedules.py`.
"""

from __future__ import annotations

import dagster as dg

from etl.defs.dbt.assets import tekton_dbt_models
from etl.defs.keys import KUBERNETES_KEY, RESULTS_KEY, SERVING_KEY
from etl.defs.settings import ingest_cron

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
