"""The daily reliability summary as a daily-partitioned asset: backfill any range of days from the UI.

Each partition is one UTC day; materializing it writes `<home>/reports/daily/D.{json,md,html}` from the published
serving file, then delivers it to the configured channels. Delivery is an asset check, not part of the asset: a
channel that is down fails the `delivered` check loudly while the report itself is materialized and stays on disk.
"""

import os
from collections.abc import Iterator
from datetime import date

import dagster as dg

from etl.defs.keys import SERVING_KEY, SUMMARY_KEY
from etl.defs.resources import WarehouseResource
from etl.summary import build_summary
from etl.summary.delivery import DeliveryError, configured_channels, deliver, summary_message
from etl.summary.render import headline

SUMMARY_START_ENV = "TEKTON_WAREHOUSE_SUMMARY_START"

daily_summary_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get(SUMMARY_START_ENV, "2024-01-01"), timezone="UTC"
)


class SummaryConfig(dg.Config):
    deliver: bool = True


@dg.asset(
    key=SUMMARY_KEY,
    deps=[SERVING_KEY],
    partitions_def=daily_summary_partitions,
    group_name="reports",
    kinds={"html", "json"},
    check_specs=[
        dg.AssetCheckSpec(
            "delivered", asset=SUMMARY_KEY, description="every configured channel accepted the summary"
        )
    ],
)
def daily_summary(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: SummaryConfig
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Runs and success rate vs the week before, error-budget burn, regressions, newly flaky pipelines and tasks,
    failure causes, p95 duration and queue changes, supply chain; every item with its run uids."""
    paths = warehouse.paths()
    day = date.fromisoformat(context.partition_key)
    files = build_summary(paths, day)
    runs = files.summary["runs"]["day"]
    yield dg.MaterializeResult(
        metadata={
            "headline": headline(files.summary),
            "html": dg.MetadataValue.path(str(files.html_path)),
            "json": dg.MetadataValue.path(str(files.json_path)),
            "runs": runs["runs"],
            "success_rate": runs["success_rate"],
            "regressed_pipelines": len(files.summary["regressions"]["regressed"]),
            "dagster/row_count": runs["runs"],
        }
    )
    yield _deliver(files.summary, warehouse, enabled=config.deliver)


def _deliver(summary: dict, warehouse: WarehouseResource, enabled: bool) -> dg.AssetCheckResult:
    channels = configured_channels(warehouse.sources_config().delivery)
    if not enabled or not channels:
        reason = "delivery switched off for this run" if channels else "no delivery channel configured"
        return dg.AssetCheckResult(check_name="delivered", passed=True, metadata={"skipped": reason})
    try:
        results = deliver(warehouse.sources_config().delivery, summary_message(summary))
    except DeliveryError as exc:
        return dg.AssetCheckResult(
            check_name="delivered", passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(exc)
        )
    return dg.AssetCheckResult(
        check_name="delivered",
        passed=True,
        metadata={"channels": ", ".join(f"{r.channel} ({r.attempts} attempt(s))" for r in results)},
    )
