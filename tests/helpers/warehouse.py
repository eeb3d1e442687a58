"""Build a raw warehouse from hand-made Tekton objects and run the real dbt project on it.

Used by the dbt, marts and dashboard tests: `make_raw_warehouse` writes `raw.tekton_objects` exactly as the raw
layer does (same DDL, from `etl.warehouse.schema`), `run_dbt_build` runs `dbt build` on that file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from etl.build import DbtResult, invoke_dbt, marts_db_path
from etl.warehouse.schema import ensure_schema


def make_raw_warehouse(
    db_path: Path,
    objects: Iterable[dict[str, Any]],
    cluster: str = "default",
    ingested_at: datetime | None = None,
) -> Path:
    """Insert (or replace, by cluster + uid) Tekton objects into `raw.tekton_objects` of `db_path`."""
    ingested = ingested_at or datetime.now(UTC)
    rows = [_raw_row(obj, cluster, ingested, index) for index, obj in enumerate(objects)]
    con = duckdb.connect(str(db_path))
    try:
        ensure_schema(con)
        con.execute("BEGIN TRANSACTION")
        for row in rows:
            con.execute("DELETE FROM raw.tekton_objects WHERE cluster = ? AND uid = ?", [row[0], row[1]])
            con.execute(
                "INSERT INTO raw.tekton_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 'file', ?, ?, ?, ?::json)",
                row,
            )
        con.execute("COMMIT")
    finally:
        con.close()
    return db_path


def _raw_row(obj: dict[str, Any], cluster: str, ingested: datetime, index: int) -> list[Any]:
    metadata = obj.get("metadata", {})
    text = json.dumps(obj, separators=(",", ":"))
    version = metadata.get("resourceVersion")
    return [
        cluster,
        metadata["uid"],
        obj["kind"],
        obj.get("apiVersion", "tekton.dev/v1"),
        metadata.get("namespace"),
        metadata.get("name"),
        metadata.get("creationTimestamp"),
        int(version) if version is not None else None,
        f"test:{index}",
        ingested,
        hashlib.sha256(text.encode()).hexdigest(),
        text,
    ]


def run_dbt_build(
    db_path: Path,
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    work_dir: Path | None = None,
    dbt_vars: dict[str, Any] | None = None,
    command: str = "build",
    unit_tests: bool = False,
) -> DbtResult:
    """Run `dbt <command>` on `db_path`; target and logs go next to the file. Raises BuildError on failure.

    `select` takes dbt selectors (e.g. `["path:models/marts/core"]`); unit tests are left out unless asked for,
    since they test SQL, not data, and double the time of a build.
    """
    base = work_dir or db_path.parent / "dbt"
    args = [command]
    if command == "build" and not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select, "--indirect-selection", "cautious"]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return invoke_dbt(db_path, args, target_dir=base / "target", log_dir=base / "logs")


def connect_read_only(db_path: Path) -> duckdb.DuckDBPyConnection:
    """`db_path` read-only, session in UTC; a working file sees its marts file too (`marts.x` as in the build)."""
    con = duckdb.connect(str(db_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    marts_db = marts_db_path(db_path)
    if marts_db.exists():
        con.execute(f"ATTACH '{marts_db}' AS marts_db (READ_ONLY)")
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"SET search_path = '{catalog}.main,marts_db.marts'")
    return con


def query(db_path: Path, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of `sql` on `db_path` (`connect_read_only`)."""
    con = connect_read_only(db_path)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def query_dicts(db_path: Path, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    con = connect_read_only(db_path)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
