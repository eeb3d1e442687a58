"""Results and Records kept in DuckDB, queried with SQL like the real server's Postgres.

`records.ndjson` is loaded with `read_json` straight into a DuckDB file (never as Python objects), sorted by
(update_time, uid) so keyset pages on the clients' usual order touch few row groups. Reads use one cursor per
thread; writes are serialised by a lock because DuckDB allows one writer transaction per table at a time.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from etl.errors import WarehouseError

NAME_SEGMENT = r"[a-z0-9_-]{1,63}"
MAX_JSON_OBJECT_BYTES = 64 * 1024 * 1024

RECORD_COLUMNS = (
    "parent, result_name, record_name, uid, type, data, epoch_us(create_time), epoch_us(update_time)"
)
RESULT_COLUMNS = (
    "parent, result_name, uid, epoch_us(create_time), epoch_us(update_time), annotations, summary"
)


@dataclass(frozen=True)
class RecordRow:
    parent: str
    result_name: str
    record_name: str
    uid: str
    type: str
    data: str
    create_us: int
    update_us: int

    @property
    def name(self) -> str:
        return f"{self.parent}/results/{self.result_name}/records/{self.record_name}"


@dataclass(frozen=True)
class ResultRow:
    parent: str
    result_name: str
    uid: str
    create_us: int
    update_us: int
    annotations: str | None
    summary: str | None

    @property
    def name(self) -> str:
        return f"{self.parent}/results/{self.result_name}"


@dataclass(frozen=True)
class Page:
    """Keyset position and direction: rows strictly after (order value, uid) in the listing order."""

    order_column: str | None  # "create_time" | "update_time" | None (order by uid)
    descending: bool
    after_us: int | None
    after_uid: str | None
    limit: int


class DataLoadError(WarehouseError):
    """records.ndjson is missing or malformed."""


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


class Store:
    """The server's database: tables `results` and `records` in a DuckDB file under a private temp folder."""

    def __init__(self, memory_limit: str = "2GB") -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="results-server-"))
        self._con = duckdb.connect(str(self._dir / "results.duckdb"))
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(f"SET memory_limit = '{memory_limit}'")
        self._con.execute(f"SET temp_directory = '{self._dir / 'spill'}'")
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._last_write_us = 0

    # -- loading -------------------------------------------------------------------------------------------------

    def load(self, records_file: Path | None) -> int:
        """Create the tables, filled from `records_file` (or empty); returns the number of records loaded."""
        source = (
            "SELECT NULL::VARCHAR AS name, NULL::VARCHAR AS uid, NULL::VARCHAR AS type, NULL::JSON AS data, "
        )
        source += "NULL::TIMESTAMPTZ AS create_time, NULL::TIMESTAMPTZ AS update_time WHERE FALSE"
        if records_file is not None:
            if not records_file.is_file():
                raise DataLoadError(
                    f"{records_file} does not exist: run 'tekton-warehouse generate --out DIR' first"
                )
            columns = "{name: 'VARCHAR', uid: 'VARCHAR', type: 'VARCHAR', data: 'JSON', create_time: 'TIMESTAMPTZ', "
            columns += "update_time: 'TIMESTAMPTZ'}"
            path = str(records_file).replace("'", "''")
            source = (
                f"SELECT name, uid, type, data, create_time, update_time FROM read_json('{path}', "
                f"format = 'newline_delimited', columns = {columns}, maximum_object_size = {MAX_JSON_OBJECT_BYTES})"
            )
        try:
            self._create_tables(source)
        except duckdb.Error as exc:
            raise DataLoadError(f"cannot load {records_file}: {str(exc).splitlines()[0]}") from None
        # The first parameterised query makes duckdb import its optional Python integrations (seconds when
        # bytecode caching is off); pay that at start-up rather than on a client's first page.
        self.cursor().execute("SELECT ?::BIGINT", [0]).fetchall()
        return self.count_records()

    def _create_tables(self, source: str) -> None:
        con = self._con
        con.execute(
            f"""CREATE TABLE records AS
            SELECT split_part(name, '/', 1) AS parent, split_part(name, '/', 3) AS result_name,
                   split_part(name, '/', 5) AS record_name, coalesce(uid, uuid()::VARCHAR) AS uid,
                   coalesce(type, '') AS type, data, create_time, coalesce(update_time, create_time) AS update_time,
                   name AS _full_name
            FROM ({source}) ORDER BY update_time, uid"""
        )
        bad = con.execute(
            f"SELECT _full_name FROM records WHERE NOT regexp_full_match(_full_name, "
            f"'{NAME_SEGMENT}/results/{NAME_SEGMENT}/records/{NAME_SEGMENT}') "
            "OR create_time IS NULL OR data IS NULL LIMIT 1"
        ).fetchone()
        if bad is not None:
            raise DataLoadError(f"record {bad[0]!r} has a bad name, or no create_time or data")
        con.execute("ALTER TABLE records DROP COLUMN _full_name")
        con.execute(
            """CREATE TABLE results AS
            SELECT parent, result_name, uuid()::VARCHAR AS uid, min(create_time) AS create_time,
                   max(update_time) AS update_time, NULL::JSON AS annotations, NULL::JSON AS summary
            FROM records GROUP BY parent, result_name ORDER BY parent, result_name"""
        )
        con.execute("CREATE UNIQUE INDEX results_by_name ON results (parent, result_name)")
        con.execute("CREATE UNIQUE INDEX records_by_name ON records (parent, result_name, record_name)")
        con.execute("CREATE INDEX records_by_uid ON records (uid)")

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- reads ---------------------------------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    def count_records(self) -> int:
        return int(self.cursor().execute("SELECT count(*) FROM records").fetchone()[0])

    def list_records(self, parent: str, result: str, where_sql: str, page: Page) -> list[RecordRow]:
        """One keyset page. Two steps in one transaction: find the page's row ids reading only the key (and filter)
        columns, then fetch just those rows; a single ORDER BY ... LIMIT would drag every later row's JSON through
        the sort, which at a million records costs gigabytes per page."""
        sql, params = _listing_sql("records", "rowid", parent, result, where_sql, page)
        cur = self.cursor()
        cur.begin()
        try:
            row_ids = [row[0] for row in cur.execute(sql, params).fetchall()]
            if not row_ids:
                return []
            wanted = ", ".join(str(int(r)) for r in row_ids)
            rows = cur.execute(
                f"SELECT rowid, {RECORD_COLUMNS} FROM records WHERE rowid IN ({wanted})"
            ).fetchall()
        finally:
            cur.commit()
        by_id = {row[0]: row[1:] for row in rows}
        return [RecordRow(*by_id[r]) for r in row_ids if r in by_id]

    def list_results(self, parent: str, where_sql: str, page: Page) -> list[ResultRow]:
        sql, params = _listing_sql("results", RESULT_COLUMNS, parent, "-", where_sql, page)
        return [ResultRow(*row) for row in self.cursor().execute(sql, params).fetchall()]

    def get_record(self, parent: str, result: str, record: str) -> RecordRow | None:
        row = (
            self.cursor()
            .execute(
                f"SELECT {RECORD_COLUMNS} FROM records WHERE parent = ? AND result_name = ? AND record_name = ?",
                [parent, result, record],
            )
            .fetchone()
        )
        return RecordRow(*row) if row else None

    def get_result(self, parent: str, result: str) -> ResultRow | None:
        row = (
            self.cursor()
            .execute(
                f"SELECT {RESULT_COLUMNS} FROM results WHERE parent = ? AND result_name = ?", [parent, result]
            )
            .fetchone()
        )
        return ResultRow(*row) if row else None

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        return self.cursor().execute(sql, list(params)).fetchall()

    # -- writes (callers hold write_lock for read-modify-write sequences) ------------------------------------------

    def next_write_time_us(self) -> int:
        """A strictly increasing "now", so every write gets a new update_time (and so a new etag)."""
        with self.write_lock:
            self._last_write_us = max(now_us(), self._last_write_us + 1)
            return self._last_write_us

    def insert_result(
        self, parent: str, result: str, annotations: str | None, summary: str | None
    ) -> ResultRow:
        at = self.next_write_time_us()
        self.cursor().execute(
            "INSERT INTO results VALUES (?, ?, ?, make_timestamptz(?), make_timestamptz(?), ?, ?)",
            [parent, result, str(uuid.uuid4()), at, at, annotations, summary],
        )
        return self.get_result(parent, result)  # type: ignore[return-value]

    def update_result(self, row: ResultRow, annotations: str | None, summary: str | None) -> ResultRow:
        at = self.next_write_time_us()
        self.cursor().execute(
            "UPDATE results SET annotations = ?, summary = ?, update_time = make_timestamptz(?) WHERE uid = ?",
            [annotations, summary, at, row.uid],
        )
        return self.get_result(row.parent, row.result_name)  # type: ignore[return-value]

    def delete_result(self, row: ResultRow) -> None:
        cur = self.cursor()
        cur.execute("DELETE FROM records WHERE parent = ? AND result_name = ?", [row.parent, row.result_name])
        cur.execute("DELETE FROM results WHERE uid = ?", [row.uid])

    def insert_record(self, parent: str, result: str, record: str, type_: str, data: str) -> RecordRow:
        at = self.next_write_time_us()
        self.cursor().execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, make_timestamptz(?), make_timestamptz(?))",
            [parent, result, record, str(uuid.uuid4()), type_, data, at, at],
        )
        return self.get_record(parent, result, record)  # type: ignore[return-value]

    def update_record(self, row: RecordRow, type_: str, data: str) -> RecordRow:
        at = self.next_write_time_us()
        self.cursor().execute(
            "UPDATE records SET type = ?, data = ?, update_time = make_timestamptz(?) WHERE uid = ?",
            [type_, data, at, row.uid],
        )
        return self.get_record(row.parent, row.result_name, row.record_name)  # type: ignore[return-value]

    def delete_record(self, row: RecordRow) -> None:
        self.cursor().execute("DELETE FROM records WHERE uid = ?", [row.uid])


def _listing_sql(
    table: str, columns: str, parent: str, result: str, where_sql: str, page: Page
) -> tuple[str, list[object]]:
    """Keyset query: `(order_col, uid) > (value, uid)` (or `<` when descending), fetching `limit` rows."""
    conditions, params = [f"({where_sql})"], []
    if parent != "-":
        conditions.append("parent = ?")
        params.append(parent)
    if result != "-":
        conditions.append("result_name = ?")
        params.append(result)
    cmp = "<" if page.descending else ">"
    direction = "DESC" if page.descending else "ASC"
    if page.order_column is None:
        if page.after_uid is not None:
            conditions.append(f"uid {cmp} ?")
            params.append(page.after_uid)
        order = f"uid {direction}"
    else:
        col = page.order_column
        if page.after_uid is not None and page.after_us is not None:
            # The first, looser condition lets DuckDB skip row groups by min/max; the second is the exact keyset.
            conditions.append(f"{col} {cmp}= make_timestamptz(?)")
            conditions.append(f"({col} {cmp} make_timestamptz(?) OR uid {cmp} ?)")
            params += [page.after_us, page.after_us, page.after_uid]
        order = f"{col} {direction}, uid {direction}"
    sql = f"SELECT {columns} FROM {table} WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT {int(page.limit)}"
    return sql, params
