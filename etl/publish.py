"""Publish the marts as the serving file `<home>/tekton.duckdb`, atomically.

Readers (Streamlit, the daily summary, analysts) keep the serving file open read-only for as long as they like. We
never write into it: the marts are copied into a new file next to it, which is closed and fsynced, then renamed over
the old one. A reader holding the old file keeps reading its (unlinked) snapshot; the next connection sees the new
one; the build never waits for readers (architecture.md principle 2).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import duckdb

from etl.config import WarehousePaths
from etl.errors import WarehouseError

MARTS_SCHEMA = "marts"


def publish(paths: WarehousePaths) -> Path:
    """Copy every table of schema `marts` (with comments) into a fresh file and rename it onto `tekton.duckdb`."""
    if not paths.warehouse_db.exists():
        raise WarehouseError(f"no warehouse at {paths.warehouse_db}; run 'tekton-warehouse build' first")
    temp = paths.home / f"{paths.serving_db.name}.tmp-{os.getpid()}"
    _remove(temp)
    try:
        _write_snapshot(paths.warehouse_db, temp)
        _fsync(temp)
        os.replace(temp, paths.serving_db)
        _fsync_dir(paths.home)
    except BaseException:
        _remove(temp)
        raise
    return paths.serving_db


def _write_snapshot(warehouse_db: Path, temp: Path) -> None:
    con = duckdb.connect(str(temp))
    try:
        con.execute(f"ATTACH '{_sql_path(warehouse_db)}' AS wh (READ_ONLY)")
        tables = _mart_tables(con)
        if not tables:
            raise WarehouseError(
                f"{warehouse_db} has no tables in schema {MARTS_SCHEMA}; run 'tekton-warehouse build' first"
            )
        # One transaction: one commit (and one sync) for the whole snapshot, not one per table and comment.
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE SCHEMA {MARTS_SCHEMA}")
        for table in tables:
            con.execute(f'CREATE TABLE {MARTS_SCHEMA}."{table}" AS SELECT * FROM wh.{MARTS_SCHEMA}."{table}"')
        _copy_comments(con, tables)
        con.execute("COMMIT")
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
    finally:
        con.close()


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
