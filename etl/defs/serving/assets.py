"""The published serving file: the marts copied to `<home>/tekton.duckdb` and renamed into place atomically."""

import dagster as dg
import duckdb

from etl.defs.dbt.assets import tekton_dbt_models
from etl.defs.keys import SERVING_KEY
from etl.defs.resources import WarehouseResource
from etl.locking import writer_lock
from etl.publish import publish


def mart_row_counts(serving_db: str) -> dict[str, int]:
    with duckdb.connect(serving_db, read_only=True) as con:
        tables = [row[0] for row in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()]  # fmt: skip
        return {table: con.execute(f'select count(*) from marts."{table}"').fetchone()[0] for table in tables}


@dg.asset(
    key=SERVING_KEY,
    deps=[key for key in tekton_dbt_models.keys if key.path[0] == "marts"],
    group_name="serving",
    kinds={"duckdb"},
    pool="duckdb",
)
def tekton_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Readers (Streamlit, the daily summary, analysts) only ever open this file, read-only; it is replaced whole,
    so they never see a half-built mart and never block the next build."""
    paths = warehouse.paths()
    with writer_lock(paths, wait_s=600.0, purpose="publish"):
        published = publish(paths)
    counts = mart_row_counts(str(published))
    context.log.info("published %s (%d mart tables)", published, len(counts))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published)),
            "tables": len(counts),
            "dagster/row_count": counts.get("fct_pipeline_runs", 0),
            "row_counts": dg.MetadataValue.json(counts),
        }
    )
