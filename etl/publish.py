"""Publish the marts as the serving file `<home>/tekton.duckdb`, atomically.

dbt builds the marts into a DuckDB file of their own, `<home>/warehouse.marts.duckdb` (dbt/profiles.yml attaches it
as `marts_db`), which holds schema `marts` with its table and column comments and nothing else once the build's
bookkeeping table is dropped. Publishing is therefore a plain file copy: no table is re-compressed or patched.

Readers (Streamlit, the daily summary, analysts) keep the serving file open read-only for as long as they like. We
never write into it: the copy goes into a new file next to it, which is fsynced, then renamed over the old one. A
reader holding the old file keeps reading its (unlinked) snapshot; the next connection sees the new one; the build
never waits for readers (architecture.md principle 2).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

import duckdb

from etl.build import marts_db_path, remove_database_file
from etl.config import WarehousePaths
from etl.errors import WarehouseError

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"
# The build's own bookkeeping in the marts file (macros/incremental_runs.sql `keyed_models_relation`), not served.
BUILD_SCHEMA = "intermediate"


def publish(paths: WarehousePaths) -> Path:
    """Copy the marts file to `tekton.duckdb.tmp-<pid>`, fsync it and rename it onto `tekton.duckdb`.

    The caller holds the writer lock (no dbt writes the marts file meanwhile)."""
    marts_db = marts_db_path(paths.warehouse_db)
    if not paths.warehouse_db.exists():
        raise WarehouseError(f"no warehouse at {paths.warehouse_db}; run 'tekton-warehouse build' first")
    if not marts_db.exists():
        raise WarehouseError(
            f"{marts_db} has no tables in schema {MARTS_SCHEMA}; run 'tekton-warehouse build' first"
        )
    _seal(marts_db)
    temp = paths.home / f"{paths.serving_db.name}.tmp-{os.getpid()}"
    remove_database_file(temp)
    try:
        shutil.copyfile(marts_db, temp)
        _fsync(temp)
        os.replace(temp, paths.serving_db)
        _fsync_dir(paths.home)
    except BaseException:
        remove_database_file(temp)
        raise
    log.info("published %s (a copy of %s)", paths.serving_db, marts_db)
    return paths.serving_db


def _seal(marts_db: Path) -> None:
    """Make the marts file complete on its own and hold only schema `marts`.

    Drops the build's bookkeeping schema (recreated by the next build's on-run-start) and checkpoints, so no
    write-ahead log is left beside it: the copy is the whole database."""
    con = duckdb.connect(str(marts_db))
    try:
        # No bound parameters on purpose: binding one makes the duckdb module import pandas (seconds).
        row = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            f"AND schema_name = '{MARTS_SCHEMA}'"
        ).fetchone()
        if not row or not row[0]:
            raise WarehouseError(
                f"{marts_db} has no tables in schema {MARTS_SCHEMA}; run 'tekton-warehouse build' first"
            )
        con.execute(f"DROP SCHEMA IF EXISTS {BUILD_SCHEMA} CASCADE")
        con.execute("CHECKPOINT")
    finally:
        con.close()


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
