"""The `raw` schema: created idempotently and versioned so later releases can migrate it in place.

Every statement is `CREATE ... IF NOT EXISTS`, so opening an existing warehouse is a no-op. `raw.schema_version`
records which migrations have run; a file written by a newer release is refused rather than silently misread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from etl.config import WarehousePaths
from etl.errors import WarehouseError
from etl.sql import sql_string

SCHEMA_VERSION = 2
# Bounded memory whatever the history length: DuckDB evicts or spills past this instead of caching the file. With the
# row groups below the loader needs little of it (the written row groups are what it caches); the rest of a 1M-object
# import's peak RSS (909 MB) is Arrow batches in flight and the libraries.
DUCKDB_MEMORY_LIMIT = "250MB"
# Checkpoint after 256 MB of WAL instead of DuckDB's 16 MB. Each checkpoint rewrites the table's last, partly filled
# row group, so frequent ones make a long load quadratic: at 64 MB the commits of a 300,000-object import cost 29 s
# CPU instead of 11 (measured). Rarer ones would keep more unwritten rows in memory. Commits stay durable in the WAL
# either way.
CHECKPOINT_THRESHOLD = "256MB"
# Row groups of 32,768 rows for what the loader writes (DuckDB's default is 122,880). A transaction that appends a
# whole row group writes it straight into the file instead of the write-ahead log, and a row group is buffered in
# memory until then: 122,880 JSON objects are ~300 MB, which under the memory limit spilled and re-read (a 200,000-
# object insert cost 2.4x the CPU; measured). The setting applies to this connection only: dbt's tables keep the
# default when dbt opens the file.
RAW_ROW_GROUP_SIZE = 32_768
# One DuckDB thread per statement: the loader runs two statements at once (the next batch's stage on its own cursor
# while this batch is written), one per core. DuckDB's own parallelism on top cost more CPU for no wall time (200,000
# objects under load: 14.4 s CPU and 14.8 s wall with two threads, 11.0 s and 11.9 s with one; measured).
DUCKDB_THREADS = 1

# The columns of raw.tekton_objects (unchanged since v1; v2 dropped the primary key).
_TEKTON_OBJECTS_COLUMNS = """
        cluster            VARCHAR NOT NULL,
        uid                VARCHAR NOT NULL,
        kind               VARCHAR NOT NULL,
        api_version        VARCHAR NOT NULL,
        namespace          VARCHAR,
        name               VARCHAR,
        creation_timestamp TIMESTAMPTZ,
        resource_version   BIGINT,
        source_update_time TIMESTAMPTZ,
        source             VARCHAR NOT NULL,
        source_ref         VARCHAR,
        ingested_at        TIMESTAMPTZ NOT NULL,
        object_hash        VARCHAR NOT NULL,
        object             JSON NOT NULL
"""

# Each migration brings the schema from version (index) to version (index + 1).
_MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE SCHEMA IF NOT EXISTS raw;
    CREATE TABLE IF NOT EXISTS raw.tekton_objects ({_TEKTON_OBJECTS_COLUMNS}, PRIMARY KEY (cluster, uid));
    CREATE TABLE IF NOT EXISTS raw.rejects (
        rejected_at TIMESTAMPTZ NOT NULL,
        cluster     VARCHAR NOT NULL,
        source      VARCHAR NOT NULL,
        source_ref  VARCHAR,
        reason      VARCHAR NOT NULL,
        payload     VARCHAR,
        -- md5 of the payload: a re-run that meets the same bad object again does not record it twice
        payload_hash VARCHAR NOT NULL
    );
    CREATE TABLE IF NOT EXISTS raw.ingestion_log (
        run_id           VARCHAR NOT NULL,
        cluster          VARCHAR NOT NULL,
        source           VARCHAR NOT NULL,
        kind             VARCHAR NOT NULL,
        started_at       TIMESTAMPTZ NOT NULL,
        finished_at      TIMESTAMPTZ,
        fetched          BIGINT NOT NULL DEFAULT 0,
        loaded           BIGINT NOT NULL DEFAULT 0,
        unchanged        BIGINT NOT NULL DEFAULT 0,
        rejected         BIGINT NOT NULL DEFAULT 0,
        watermark_before TIMESTAMPTZ,
        watermark_after  TIMESTAMPTZ,
        status           VARCHAR NOT NULL,
        message          VARCHAR,
        -- what was listed: a Results parent ('-/results/-', '<ns>/results/-') or '*' for a whole source
        scope            VARCHAR NOT NULL DEFAULT '*'
    );
    CREATE TABLE IF NOT EXISTS raw.watermarks (
        cluster    VARCHAR NOT NULL,
        source     VARCHAR NOT NULL,
        kind       VARCHAR NOT NULL,
        watermark  TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        -- one watermark per listing: per-namespace Results parents move independently
        scope      VARCHAR NOT NULL DEFAULT '*',
        PRIMARY KEY (cluster, source, kind, scope)
    );
    """,
    # v2: raw.tekton_objects without its primary-key index. Keeping the index cost more than half of a bulk load
    # (every insert and every checkpoint maintained an ART over 1M string keys; measured 12.3 vs 5.3 s CPU for 200k
    # objects). One row per (cluster, uid) is kept by the loader instead (etl/warehouse/load.py looks stored uids up
    # with a semi-join; the writer lock makes it the only writer) and checked by the Dagster asset check `uids_unique`
    # and the staging models' unique tests. DuckDB cannot drop a constraint, so the table is rebuilt.
    # No ORDER BY in the copy: sorting 1M objects ran out of the loader's memory limit. Rows may move a little (insertion
    # order is not preserved on this connection): that only weakens zone-map pruning on ingested_at, never a result.
    f"""
    CREATE TABLE raw.tekton_objects_v2 ({_TEKTON_OBJECTS_COLUMNS});
    INSERT INTO raw.tekton_objects_v2 SELECT * FROM raw.tekton_objects;
    DROP TABLE raw.tekton_objects;
    ALTER TABLE raw.tekton_objects_v2 RENAME TO tekton_objects;
    """,
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> int:
    """Create or migrate the raw schema; returns the version the file is now at."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        "CREATE TABLE IF NOT EXISTS raw.schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    current = con.execute("SELECT coalesce(max(version), 0) FROM raw.schema_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise WarehouseError(
            f"the warehouse file was written by a newer release (raw schema v{current}, this one knows "
            f"v{SCHEMA_VERSION}); upgrade tekton-warehouse"
        )
    for version in range(current, SCHEMA_VERSION):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(_MIGRATIONS[version])
            con.execute("INSERT INTO raw.schema_version VALUES (?, now())", [version + 1])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def connect(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file read-write with the settings bulk loading wants, schema ensured."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_string(str(path))} AS warehouse (ROW_GROUP_SIZE {RAW_ROW_GROUP_SIZE})")
    except duckdb.IOException as exc:
        con.close()
        raise WarehouseError(
            f"cannot open {path} for writing ({str(exc).splitlines()[0]}); is another process using it?"
        ) from None
    con.execute("USE warehouse")
    # The default would be `.tmp` in the working directory: the primary database is the in-memory one.
    con.execute(f"SET temp_directory = {sql_string(f'{path}.tmp')}")
    quiet(con)
    # Row order inside a batch carries no meaning for us; DuckDB need not keep it.
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute(f"SET threads = {DUCKDB_THREADS}")
    ensure_schema(con)
    return con


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No progress bar on our stderr, and no lookup of Python variables by table name (only registered tables)."""
    con.execute("SET enable_progress_bar = false")
    con.execute("SET python_enable_replacements = false")
    return con


@contextmanager
def open_warehouse(paths: WarehousePaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working file with the raw schema in place. Take `etl.locking.writer_lock` before calling this."""
    con = connect(paths.ensure().warehouse_db)
    try:
        yield con
    finally:
        con.close()
