"""The asset graph, checks, jobs, schedules and sensors, as a sorted listing compared with the committed one.

An accidental change of a key, a dependency, a pool, a partitioning or a schedule shows up as a diff. After an
intended change, re-record with `UPDATE_SNAPSHOTS=1 pytest tests/defs/test_definitions_snapshot.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DBT_OP = "tekton_dbt_models"


def _partitions(definition: dg.PartitionsDefinition | None) -> str:
    return "none" if definition is None else type(definition).__name__


def definitions_listing(definitions: dg.Definitions) -> str:
    """One line per asset, check, job, schedule and sensor.

    The dbt project evolves on its own, so its models are listed by the marts' fixed names only (data-model.md)
    and their tests not at all; everything defined in etl/defs is listed in full."""
    graph = definitions.resolve_asset_graph()
    dbt_keys = {k for k in graph.get_all_asset_keys() if graph.assets_def_for_key(k).node_def.name == DBT_OP}
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pool = graph.assets_def_for_key(key).node_def.pool
        if key in dbt_keys:
            if key.path[0] == "marts":
                lines.append(f"asset {key.to_user_string()} group={node.group_name} pool={pool} (dbt)")
            continue
        parents = ", ".join(
            sorted(
                p.to_user_string() if p not in dbt_keys or p.path[0] == "marts" else "(dbt)"
                for p in node.parent_keys
            )
        )
        checks = ", ".join(sorted(c.name for c in graph.get_check_keys_for_assets([key])))
        lines.append(
            f"asset {key.to_user_string()} group={node.group_name} pool={pool} "
            f"partitions={_partitions(node.partitions_def)} deps=[{parents}] checks=[{checks}]"
        )
    for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = set(job.asset_layer.selected_asset_keys)
        own = sorted(k.to_user_string() for k in selected - dbt_keys)
        dbt = "all" if dbt_keys <= selected else ("none" if not selected & dbt_keys else "some")
        lines.append(
            f"job {job.name} partitions={_partitions(job.partitions_def)} dbt_models={dbt}: {', '.join(own)}"
        )
    for schedule in sorted(definitions.schedules or [], key=lambda s: s.name):
        lines.append(
            f"schedule {schedule.name} cron={schedule.cron_schedule} tz={schedule.execution_timezone} "
            f"job={schedule.job_name} default={schedule.default_status.value}"
        )
    for sensor in sorted(definitions.sensors or [], key=lambda s: s.name):
        lines.append(
            f"sensor {sensor.name} type={type(sensor).__name__} default={sensor.default_status.value}"
        )
    return "\n".join(lines) + "\n"


def test_definitions_match_the_committed_snapshot(definitions: dg.Definitions, snapshot_file: Path) -> None:
    listing = definitions_listing(definitions)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not snapshot_file.exists():
        snapshot_file.write_text(listing)
    assert listing == snapshot_file.read_text()


def test_every_asset_that_writes_the_warehouse_is_in_the_duckdb_pool(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    writers = [
        k
        for k in graph.get_all_asset_keys()
        if k.path[0] in ("raw", "staging", "intermediate", "marts", "serving")
    ]
    assert writers
    assert {graph.assets_def_for_key(k).node_def.pool for k in writers} == {"duckdb"}


def test_models_depend_on_every_raw_source_asset(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["staging", "stg_tekton__pipeline_runs"]))
    assert {dg.AssetKey(["raw", "tekton_results"]), dg.AssetKey(["raw", "kubernetes"])} <= set(
        staging.parent_keys
    )
    assert dg.AssetKey(["raw", "tekton_objects"]) not in graph.get_all_asset_keys()
    serving = graph.get(dg.AssetKey(["serving", "tekton_duckdb"]))
    assert dg.AssetKey(["marts", "fct_pipeline_runs"]) in serving.parent_keys
    assert dg.AssetKey(["reports", "daily_summary"]) in serving.child_keys
