"""Raw objects pulled from Tekton Results (gRPC or REST), every configured cluster; see etl/defs/ingestion.py."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from etl.defs.ingestion import SOURCE_RETRY_POLICY, IngestConfig, ingest_source, raw_check_specs
from etl.defs.keys import RESULTS_KEY
from etl.defs.resources import WarehouseResource


@dg.asset(
    key=RESULTS_KEY,
    group_name="raw",
    kinds={"duckdb", "grpc"},
    pool="duckdb",
    retry_policy=SOURCE_RETRY_POLICY,
    check_specs=raw_check_specs(RESULTS_KEY, "results"),
)
def tekton_results_objects(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: IngestConfig
) -> Iterator[Any]:
    """PipelineRuns and TaskRuns archived in Tekton Results, landed in raw.tekton_objects (source = results):
    records updated since each (cluster, kind, namespace) watermark, then counts reconciled against the Results
    Summary endpoint."""
    yield from ingest_source(context, warehouse, config, "results")
