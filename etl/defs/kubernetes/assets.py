"""Raw objects listed from the Kubernetes API (live runs), every configured cluster; see etl/defs/ingestion.py."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from etl.defs.ingestion import SOURCE_RETRY_POLICY, IngestConfig, ingest_source, raw_check_specs
from etl.defs.keys import KUBERNETES_KEY
from etl.defs.resources import WarehouseResource


@dg.asset(
    key=KUBERNETES_KEY,
    group_name="raw",
    kinds={"duckdb", "kubernetes"},
    pool="duckdb",
    retry_policy=SOURCE_RETRY_POLICY,
    check_specs=raw_check_specs(KUBERNETES_KEY, "kubernetes"),
)
def kubernetes_objects(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: IngestConfig
) -> Iterator[Any]:
    """Live PipelineRuns and TaskRuns from the Kubernetes API, landed in raw.tekton_objects (source = kubernetes);
    they fill the gap until Results archives them, and the newest version of each uid wins."""
    yield from ingest_source(context, warehouse, config, "kubernetes")
