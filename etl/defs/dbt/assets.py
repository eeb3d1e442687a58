"""The dbt models as assets: one asset per model, keyed `[schema, model]`, with dbt tests as asset checks.

The dbt source `raw.tekton_objects` is one table written by several sources; in Dagster each source is its own
asset (`raw/tekton_results`, `raw/kubernetes`), so the translator replaces the dependency on the dbt source by
dependencies on every raw source asset. The models write `warehouse.duckdb`, so they run in pool `duckdb` and under
the writer lock (which also keeps a CLI `ingest` or `build` out while dbt runs).
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from etl.build import database_env, file_log_args, needs_full_refresh
from etl.config import WarehousePaths
from etl.defs.dbt.resources import newest_project_change, require_unchanged_project, tekton_dbt_project
from etl.defs.keys import RAW_SOURCE_KEYS
from etl.defs.resources import WarehouseResource
from etl.locking import writer_lock

DBT_SOURCE_KEY = dg.AssetKey(["raw", "tekton_objects"])
BUILD_LOCK_WAIT_S = 600.0
# When the dbt files were last changed as these definitions were loaded.
_LOADED_PROJECT_STAMP = newest_project_change(tekton_dbt_project().project_dir)


class TektonDbtTranslator(DagsterDbtTranslator):
    """Model keys `[schema, name]` (as analysts see them), groups by layer, raw lineage per source."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return DBT_SOURCE_KEY
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"] if dbt_resource_props["resource_type"] != "source" else "raw"

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not any(dep.asset_key == DBT_SOURCE_KEY for dep in spec.deps):
            return spec
        deps = [dep for dep in spec.deps if dep.asset_key != DBT_SOURCE_KEY]
        return spec.replace_attributes(deps=[*deps, *(dg.AssetDep(key) for key in RAW_SOURCE_KEYS)])


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


@contextmanager
def dbt_environment(paths: WarehousePaths) -> Iterator[None]:
    """Point the profile at this warehouse (dbt reads TEKTON_WAREHOUSE_DB and TEKTON_WAREHOUSE_MARTS_DB) for the dbt
    child process only."""
    values = database_env(paths.warehouse_db)
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(
    manifest=tekton_dbt_project().manifest_path,
    project=tekton_dbt_project(),
    dagster_dbt_translator=TektonDbtTranslator(),
    pool="duckdb",
    name="tekton_dbt_models",
)
def tekton_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: DbtBuildConfig,
) -> Iterator[Any]:
    """`dbt build` (incremental unless full_refresh) of the selected models and their tests."""
    require_unchanged_project(tekton_dbt_project(), _LOADED_PROJECT_STAMP)
    paths = warehouse.paths()
    full_refresh = needs_full_refresh(paths.warehouse_db, config.full_refresh)
    args = ["build", *file_log_args(), *(["--full-refresh"] if full_refresh else [])]
    with writer_lock(paths, wait_s=BUILD_LOCK_WAIT_S, purpose="build"), dbt_environment(paths):
        yield from dbt.cli(args, context=context, target_path=paths.dbt_target_dir / "dagster").stream()
