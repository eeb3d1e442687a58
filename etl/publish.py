"""Publish the marts as the serving file `<home>/tekton.duckdb`, atomically.

Readers (Streamlit, the daily summary, analysts) keep the serving file open read-only for as long as they like. We
never write into it: the new snapshot is written into a new file next to it, which is closed and fsynced, then
renamed over the old one. A reader holding the old file keeps reading its (unlinked) snapshot; the next connection
sees the new one; the build never waits for readers (architecture.md principle 2).

Two ways to write the new file (docs/dbt.md "Publishing"):
- patch: when the build was incremental on top of exactly the build that the current serving file holds (the
  state row dbt writes in `intermediate.build_watermark`, and `<home>/tekton.duckdb.publish.json` written here),
  copy the serving file and replace only the affected runs' rows of the incremental marts; other marts are
  copied whole when this invocation rebuilt them, and kept as they are when it did not (a `--select` build).
  Re-compressing ~1M unchanged rows was most of the publish time.
- snapshot: otherwise (first publish, full refresh, a failed or partial build in between, changed columns, or
  the patched file grown to twice a fresh one), copy every mart into a fresh file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.config import WarehousePaths
from etl.errors import WarehouseError

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"
STATE_SUFFIX = ".publish.json"
# A patched file keeps deleted rows' space until DuckDB reuses it; past this ratio a fresh snapshot is written.
MAX_GROWTH = 2.0


@dataclass(frozen=True)
class BuildState:
    """What the last dbt invocation recorded (macros/incremental_runs.sql, on-run-end)."""

    invocation_id: str | None
    previous_invocation_id: str | None
    keyed: bool


def publish(paths: WarehousePaths) -> Path:
    """Write the marts (with comments) into a new file and rename it onto `tekton.duckdb`."""
    if not paths.warehouse_db.exists():
        raise WarehouseError(f"no warehouse at {paths.warehouse_db}; run 'tekton-warehouse build' first")
    temp = paths.home / f"{paths.serving_db.name}.tmp-{os.getpid()}"
    _remove(temp)
    served = _served_state(paths)
    try:
        state, full_size = _write(paths, temp, served)
        _fsync(temp)
        os.replace(temp, paths.serving_db)
        _fsync_dir(paths.home)
    except BaseException:
        _remove(temp)
        raise
    _write_served_state(paths, state, full_size)
    return paths.serving_db


def _write(paths: WarehousePaths, temp: Path, served: dict[str, object]) -> tuple[BuildState | None, int]:
    """Patch a copy of the serving file when that is exact, else write a fresh snapshot; the fresh size."""
    full_size = int(served.get("full_size") or 0)
    if served.get("invocation_id") and paths.serving_db.exists():
        shutil.copyfile(paths.serving_db, temp)
        state = _patch(paths.warehouse_db, temp, str(served["invocation_id"]))
        if state is not None and (not full_size or temp.stat().st_size <= MAX_GROWTH * full_size):
            log.info("published %s by patching the previous snapshot", paths.serving_db)
            return state, full_size
        _remove(temp)
    state = _write_snapshot(paths.warehouse_db, temp)
    log.info("published %s as a fresh snapshot", paths.serving_db)
    return state, temp.stat().st_size


def _served_state(paths: WarehousePaths) -> dict[str, object]:
    """Which build the serving file holds (missing, unreadable or stale sidecar: none, so a full snapshot)."""
    sidecar = paths.home / f"{paths.serving_db.name}{STATE_SUFFIX}"
    try:
        served = json.loads(sidecar.read_text())
        serving_stat = paths.serving_db.stat()
    except (OSError, ValueError):
        return {}
    # The sidecar describes one exact file: a serving file replaced by anything else does not match it.
    if (
        served.get("serving_size") != serving_stat.st_size
        or served.get("serving_mtime_ns") != serving_stat.st_mtime_ns
    ):
        return {}
    return served


def _write_served_state(paths: WarehousePaths, state: BuildState | None, full_size: int) -> None:
    sidecar = paths.home / f"{paths.serving_db.name}{STATE_SUFFIX}"
    if state is None or state.invocation_id is None:
        sidecar.unlink(missing_ok=True)
        return
    serving_stat = paths.serving_db.stat()
    body = {
        "invocation_id": state.invocation_id,
        "full_size": full_size,
        "serving_size": serving_stat.st_size,
        "serving_mtime_ns": serving_stat.st_mtime_ns,
    }
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, sidecar)


def _read_state(con: duckdb.DuckDBPyConnection) -> BuildState | None:
    """The build state row of the attached warehouse `wh`, if the build wrote one."""
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'intermediate' "
        "AND table_name = 'build_watermark'"
    ).fetchone()
    if not has_table or not has_table[0]:
        return None
    columns = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'wh' AND schema_name = 'intermediate' "
            "AND table_name = 'build_watermark'"
        ).fetchall()
    }
    if not {"invocation_id", "previous_invocation_id", "keyed"} <= columns:
        return None
    row = con.execute(
        "SELECT invocation_id, previous_invocation_id, keyed FROM wh.intermediate.build_watermark LIMIT 1"
    ).fetchone()
    return BuildState(row[0], row[1], bool(row[2])) if row else None


def _patch(warehouse_db: Path, temp: Path, served_invocation: str) -> BuildState | None:
    """Bring the copy `temp` of the serving file up to the warehouse marts; None (untouched) when not exact."""
    con = duckdb.connect(str(temp))
    try:
        con.execute(f"ATTACH '{_sql_path(warehouse_db)}' AS wh (READ_ONLY)")
        state = _read_state(con)
        if state is None:
            return None
        if state.invocation_id == served_invocation:
            return state  # the serving file already holds exactly these marts
        if not state.keyed or state.previous_invocation_id != served_invocation:
            return None
        keyed = _keyed_marts(con)
        ran = _marts_run(con)
        tables = _mart_tables(con)
        if not tables or ran is None:
            return None
        served_tables = set(_served_tables(con))
        con.execute("BEGIN TRANSACTION")
        for table in tables:
            if table in keyed and _same_columns(con, table):
                _replace_affected_rows(con, table, *keyed[table])
            elif table not in ran and table in served_tables and _same_columns(con, table):
                continue  # not rebuilt by this invocation: the served copy already equals it
            else:
                con.execute(f'DROP TABLE IF EXISTS {MARTS_SCHEMA}."{table}"')
                _copy_mart(con, table)
        for stale in served_tables:
            if stale not in tables:
                con.execute(f'DROP TABLE {MARTS_SCHEMA}."{stale}"')
        _finish_snapshot(con, tables)
        return state
    finally:
        con.close()


def _keyed_marts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, str]]:
    """Incremental marts -> (run uid column or expression, affected set, predicate of rows replaced every build).

    The affected set is 'PipelineRun' | 'TaskRun' | 'runs' | 'comparisons' (macros/incremental_runs.sql)."""
    if not _has_build_table(con, "build_incremental_marts"):
        return {}
    columns = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'wh' AND schema_name = 'intermediate' "
            "AND table_name = 'build_incremental_marts'"
        ).fetchall()
    }
    always = "replace_always" if "replace_always" in columns else "'false'"
    rows = con.execute(
        f"SELECT table_name, uid_column, affected, {always} FROM wh.intermediate.build_incremental_marts "
        f"WHERE schema_name = '{MARTS_SCHEMA}'"
    ).fetchall()
    return {
        table: (uid_column, affected, replace_always) for table, uid_column, affected, replace_always in rows
    }


def _marts_run(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    """Marts the last dbt invocation ran (None when it did not say: then nothing can be assumed unchanged)."""
    if not _has_build_table(con, "build_models_run"):
        return None
    rows = con.execute(
        f"SELECT table_name FROM wh.intermediate.build_models_run WHERE schema_name = '{MARTS_SCHEMA}'"
    ).fetchall()
    return {row[0] for row in rows}


def _served_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        f"AND schema_name = '{MARTS_SCHEMA}'"
    ).fetchall()
    return [row[0] for row in rows]


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        f"WHERE database_name = '{database}' AND schema_name = '{MARTS_SCHEMA}' AND table_name = '{_sql_text(table)}' "
        "ORDER BY column_index"
    ).fetchall()


def _same_columns(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    served_db = con.execute("SELECT current_database()").fetchone()[0]
    served = _columns(con, served_db, table)
    return bool(served) and served == _columns(con, "wh", table)


def _replace_affected_rows(
    con: duckdb.DuckDBPyConnection, table: str, uid_column: str, affected: str, replace_always: str
) -> None:
    """Delete the affected runs' rows and insert them as the build left them (the same rule as the dbt pre-hook,
    macros/incremental_runs.sql `affected_keys`)."""
    if affected == "comparisons":
        keys = "SELECT cluster AS k_cluster, pipeline_run_uid AS k_uid FROM wh.intermediate.int_run_comparisons__affected"
    elif affected == "runs":  # affected runs of either kind (uids are unique across kinds)
        keys = "SELECT cluster AS k_cluster, run_uid AS k_uid FROM wh.intermediate.int_build__affected_runs"
    else:
        keys = (
            "SELECT cluster AS k_cluster, run_uid AS k_uid FROM wh.intermediate.int_build__affected_runs "
            f"WHERE run_kind = '{_sql_text(affected)}'"
        )
    # uid_column is a column or an expression over the row's columns (unqualified: they can only mean the row's).
    match = f"({replace_always}) OR EXISTS (SELECT 1 FROM ({keys}) WHERE k_cluster = cluster AND k_uid = ({uid_column}))"
    con.execute(f'DELETE FROM {MARTS_SCHEMA}."{table}" AS t WHERE {match}')
    con.execute(
        f'INSERT INTO {MARTS_SCHEMA}."{table}" SELECT * FROM wh.{MARTS_SCHEMA}."{table}" AS t WHERE {match}'
    )


def _write_snapshot(warehouse_db: Path, temp: Path) -> BuildState | None:
    con = duckdb.connect(str(temp))
    try:
        con.execute(f"ATTACH '{_sql_path(warehouse_db)}' AS wh (READ_ONLY)")
        tables = _mart_tables(con)
        if not tables:
            raise WarehouseError(
                f"{warehouse_db} has no tables in schema {MARTS_SCHEMA}; run 'tekton-warehouse build' first"
            )
        state = _read_state(con)
        # One transaction: one commit (and one sync) for the whole snapshot, not one per table and comment.
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE SCHEMA {MARTS_SCHEMA}")
        for table in tables:
            _copy_mart(con, table)
        _finish_snapshot(con, tables)
        return state
    finally:
        con.close()


def _has_build_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the build left table `intermediate.<name>` in the warehouse (older builds did not)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'intermediate' "
        f"AND table_name = '{_sql_text(name)}'"
    ).fetchone()
    return bool(row and row[0])


def _copy_mart(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(f'CREATE TABLE {MARTS_SCHEMA}."{table}" AS SELECT * FROM wh.{MARTS_SCHEMA}."{table}"')


def _finish_snapshot(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """Comments, one commit for the whole snapshot, then detach and checkpoint so the file is complete on its own."""
    _copy_comments(con, tables)
    con.execute("COMMIT")
    con.execute("DETACH wh")
    con.execute("CHECKPOINT")


# Queries below take no bound parameters on purpose: binding one makes the duckdb module import pandas (seconds).
def _mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = '{MARTS_SCHEMA}' "
        "ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def _copy_comments(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """Carry over table and column comments (dbt persist_docs), so analysts see the docs in the serving file."""
    table_comments = con.execute(
        "SELECT table_name, comment FROM duckdb_tables() "
        f"WHERE database_name = 'wh' AND schema_name = '{MARTS_SCHEMA}' AND comment IS NOT NULL"
    ).fetchall()
    for table, comment in table_comments:
        con.execute(f"COMMENT ON TABLE {MARTS_SCHEMA}.\"{table}\" IS '{_sql_text(comment)}'")
    column_comments = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() "
        f"WHERE database_name = 'wh' AND schema_name = '{MARTS_SCHEMA}' AND comment IS NOT NULL"
    ).fetchall()
    for table, column, comment in column_comments:
        if table in tables:
            con.execute(f'COMMENT ON COLUMN {MARTS_SCHEMA}."{table}"."{column}" IS \'{_sql_text(comment)}\'')


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable."""
    with contextlib.suppress(OSError):
        _fsync(directory)


def _remove(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)
