"""Results and Records kept in DuckDB, queried with SQL like the real server's Postgres.

`records.ndjson` is loaded with `read_json` straight into a DuckDB file (never as Python objects), in one pass that
also encodes every record's protobuf (`pb`, see wire.py) in SQL. The table keeps the file's order (no sort of the
whole payload: that spilled gigabytes at a million records); keyset pages read only the key columns first.
Reads use one cursor per thread; writes are serialised by a lock because DuckDB allows one writer transaction per
table at a time, and bump a write version that invalidates the listing-key cache (`_KeyCache`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from etl.errors import WarehouseError
from etl.results_server import wire

NAME_SEGMENT = r"[a-z0-9_-]{1,63}"
MAX_JSON_OBJECT_BYTES = 64 * 1024 * 1024
# The object's namespace, kept as a column when a record is written: the Summary's group_by namespace (which the
# ingest's reconciliation asks for on every run) then reads one small column instead of parsing every record's JSON.
NAMESPACE_OF = "coalesce(json_extract_string({}, '$.metadata.namespace'), '')"
NAMESPACE_SQL = NAMESPACE_OF.format("data")

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


# One listing key: (rowid, uid, create_us, update_us).
Key = tuple[int, str, int, int]
# Keys fetched per keyset query: one query answers this many rows' worth of pages, the following pages of the same
# walk take their keys from the cache. Bounded so a cached walk costs a few MB at most.
KEY_CHUNK_ROWS = 50_000
KEY_CACHE_ENTRIES = 16


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
        # Bumped before and after every write: a reader that sees the same version on both sides of its queries
        # knows no write overlapped them, so keys cached at that version still describe the table.
        self._version = 0
        self._keys = _KeyCache()
        self.key_chunk_rows = KEY_CHUNK_ROWS  # tests lower it to cross chunk boundaries on small histories

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
        con.execute(wire.PB_MACROS_SQL)
        # A missing uid gets one derived from the name (md5 as a UUID) rather than uuid(): the value is used twice
        # (column and protobuf) and a volatile function may be evaluated once per use.
        rows = f"""SELECT split_part(name, '/', 1) AS parent, split_part(name, '/', 3) AS result_name,
                   split_part(name, '/', 5) AS record_name, coalesce(uid, md5(name)::UUID::VARCHAR) AS uid,
                   coalesce(type, '') AS type, data, create_time, coalesce(update_time, create_time) AS update_time,
                   name AS _full_name, {NAMESPACE_SQL} AS namespace
            FROM ({source})"""
        con.execute(f"CREATE TABLE records AS {wire.record_pb_select(rows)}")
        bad = con.execute(
            f"SELECT _full_name FROM records WHERE NOT regexp_full_match(_full_name, "
            f"'{NAME_SEGMENT}/results/{NAME_SEGMENT}/records/{NAME_SEGMENT}') "
            "OR create_time IS NULL OR data IS NULL LIMIT 1"
        ).fetchone()
        if bad is not None:
            raise DataLoadError(f"record {bad[0]!r} has a bad name, or no create_time or data")
        con.execute("ALTER TABLE records DROP COLUMN _full_name")
        self._fill_missing_pb()
        con.execute(
            """CREATE TABLE results AS
            SELECT parent, result_name, uuid()::VARCHAR AS uid, min(create_time) AS create_time,
                   max(update_time) AS update_time, NULL::JSON AS annotations, NULL::JSON AS summary
            FROM records GROUP BY parent, result_name ORDER BY parent, result_name"""
        )
        con.execute("CREATE UNIQUE INDEX results_by_name ON results (parent, result_name)")
        con.execute("CREATE UNIQUE INDEX records_by_name ON records (parent, result_name, record_name)")
        con.execute("CREATE INDEX records_by_uid ON records (uid)")

    def _fill_missing_pb(self) -> None:
        """Records SQL could not encode (timestamps before 1970): encode them in Python, one by one (rare)."""
        missing = self._con.execute(
            f"SELECT rowid, {RECORD_COLUMNS} FROM records WHERE pb IS NULL"
        ).fetchall()
        for rowid, *fields in missing:
            pb = wire.record_pb(RecordRow(*fields))
            self._con.execute("UPDATE records SET pb = ? WHERE rowid = ?", [pb, rowid])

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

    def list_record_pbs(
        self, parent: str, result: str, where_sql: str, page: Page, wanted: int
    ) -> tuple[list[Key], list[bytes]]:
        """One keyset page as wire bytes: the keys of up to `page.limit` rows in listing order, and the framed
        protobufs (`pb`) of the first `wanted` of them. Same rows and order as `list_records`.

        Keys come from `_KeyCache` when a previous page of the same walk fetched them at the current write
        version; a write overlapping the reads (version changed) makes it answer again without the cache."""
        query = (parent, result, where_sql, page.order_column, page.descending)
        for use_cache in (True, False):
            version = self._version
            cur = self.cursor()
            cur.begin()
            try:
                keys = self._keys.take(query, page, version) if use_cache else None
                chunk = None
                if keys is None:
                    chunk_page = Page(
                        page.order_column,
                        page.descending,
                        page.after_us,
                        page.after_uid,
                        max(page.limit, self.key_chunk_rows) if use_cache else page.limit,
                    )
                    sql, params = _listing_sql(
                        "records",
                        "rowid, uid, epoch_us(create_time), epoch_us(update_time)",
                        parent,
                        result,
                        where_sql,
                        chunk_page,
                    )
                    chunk = cur.execute(sql, params).fetchall()
                    keys = chunk[: page.limit]
                pbs = _fetch_pbs(cur, [k[0] for k in keys[:wanted]])
            finally:
                cur.commit()
            if self._version != version:
                continue  # a write overlapped: answer again from one consistent snapshot, uncached
            if chunk is not None and use_cache:
                complete = len(chunk) < max(page.limit, self.key_chunk_rows)
                self._keys.put(query, page, version, chunk, wanted, complete)
            elif use_cache:
                self._keys.advance(query, page, version, wanted)
            return keys, pbs
        return keys, pbs

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

    @contextmanager
    def _writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Every write goes through here: under the write lock, the version bumped on both sides."""
        with self.write_lock:
            self._version += 1
            try:
                yield self.cursor()
            finally:
                self._version += 1

    def next_write_time_us(self) -> int:
        """A strictly increasing "now", so every write gets a new update_time (and so a new etag)."""
        with self.write_lock:
            self._last_write_us = max(now_us(), self._last_write_us + 1)
            return self._last_write_us

    def insert_result(
        self, parent: str, result: str, annotations: str | None, summary: str | None
    ) -> ResultRow:
        at = self.next_write_time_us()
        with self._writing() as cur:
            cur.execute(
                "INSERT INTO results VALUES (?, ?, ?, make_timestamptz(?), make_timestamptz(?), ?, ?)",
                [parent, result, str(uuid.uuid4()), at, at, annotations, summary],
            )
        return self.get_result(parent, result)  # type: ignore[return-value]

    def update_result(self, row: ResultRow, annotations: str | None, summary: str | None) -> ResultRow:
        at = self.next_write_time_us()
        with self._writing() as cur:
            cur.execute(
                "UPDATE results SET annotations = ?, summary = ?, update_time = make_timestamptz(?) WHERE uid = ?",
                [annotations, summary, at, row.uid],
            )
        return self.get_result(row.parent, row.result_name)  # type: ignore[return-value]

    def delete_result(self, row: ResultRow) -> None:
        with self._writing() as cur:
            cur.execute(
                "DELETE FROM records WHERE parent = ? AND result_name = ?", [row.parent, row.result_name]
            )
            cur.execute("DELETE FROM results WHERE uid = ?", [row.uid])

    def insert_record(self, parent: str, result: str, record: str, type_: str, data: str) -> RecordRow:
        at = self.next_write_time_us()
        new = RecordRow(parent, result, record, str(uuid.uuid4()), type_, data, at, at)
        with self._writing() as cur:
            cur.execute(
                "INSERT INTO records (parent, result_name, record_name, uid, type, data, create_time, update_time, "
                f"pb, namespace) VALUES (?, ?, ?, ?, ?, ?, make_timestamptz(?), make_timestamptz(?), ?, "
                f"{NAMESPACE_OF.format('?::JSON')})",
                [parent, result, record, new.uid, type_, data, at, at, wire.record_pb(new), data],
            )
        return self.get_record(parent, result, record)  # type: ignore[return-value]

    def update_record(self, row: RecordRow, type_: str, data: str) -> RecordRow:
        at = self.next_write_time_us()
        new = RecordRow(row.parent, row.result_name, row.record_name, row.uid, type_, data, row.create_us, at)
        with self._writing() as cur:
            cur.execute(
                "UPDATE records SET type = ?, data = ?, update_time = make_timestamptz(?), pb = ?, "
                f"namespace = {NAMESPACE_OF.format('?::JSON')} WHERE uid = ?",
                [type_, data, at, wire.record_pb(new), data, row.uid],
            )
        return self.get_record(row.parent, row.result_name, row.record_name)  # type: ignore[return-value]

    def delete_record(self, row: RecordRow) -> None:
        with self._writing() as cur:
            cur.execute("DELETE FROM records WHERE uid = ?", [row.uid])


def _fetch_pbs(cur: duckdb.DuckDBPyConnection, row_ids: list[int]) -> list[bytes]:
    """`pb` of the given rows, in the given order (rows deleted meanwhile are left out)."""
    if not row_ids:
        return []
    # BETWEEN lets the scan skip straight to the page's vectors; the semi-join keeps only the page's rows (linear:
    # an IN over literals or list_contains compares every row with every id, 10x slower at 5,000-record pages).
    rows = cur.execute(
        "SELECT rowid, pb FROM records WHERE rowid BETWEEN $lo AND $hi AND rowid IN (SELECT unnest($ids))",
        {"lo": min(row_ids), "hi": max(row_ids), "ids": row_ids},
    ).fetchall()
    by_id = dict(rows)
    return [by_id[r] for r in row_ids if r in by_id]


class _KeyCache:
    """Listing keys fetched ahead, so a walk over many pages runs one keyset query per `KEY_CHUNK_ROWS` rows.

    An entry is (query, position after which the keys start) -> (write version, keys, complete), where
    `complete` means the keys reach the end of the listing. A page taken from an entry leaves the rest under the
    next position, which is exactly what the next page's token decodes to. Thread-safe; a small LRU."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[int, list[Key], bool]] = OrderedDict()

    @staticmethod
    def _position(page: Page) -> tuple[str | None, int | None]:
        return page.after_uid, page.after_us

    def take(self, query: tuple, page: Page, version: int) -> list[Key] | None:
        with self._lock:
            entry = self._entries.get((query, self._position(page)))
        if entry is None or entry[0] != version:
            return None
        _, keys, complete = entry
        if len(keys) < page.limit and not complete:
            return None
        return keys[: page.limit]

    def put(
        self, query: tuple, page: Page, version: int, chunk: list[Key], served: int, complete: bool
    ) -> None:
        self._store(query, page, version, chunk, complete, served)

    def advance(self, query: tuple, page: Page, version: int, served: int) -> None:
        with self._lock:
            entry = self._entries.pop((query, self._position(page)), None)
        if entry is not None and entry[0] == version:
            self._store(query, page, version, entry[1], entry[2], served)

    def _store(
        self, query: tuple, page: Page, version: int, keys: list[Key], complete: bool, served: int
    ) -> None:
        """Keep keys[served:] under the position of keys[served - 1] (the next page's token)."""
        rest = keys[served:]
        if served <= 0 or not rest or served > len(keys):
            return
        _, uid, create_us, update_us = keys[served - 1]
        after_us = {"create_time": create_us, "update_time": update_us}.get(page.order_column or "")
        with self._lock:
            self._entries[(query, (uid, after_us))] = (version, rest, complete)
            self._entries.move_to_end((query, (uid, after_us)))
            while len(self._entries) > KEY_CACHE_ENTRIES:
                self._entries.popitem(last=False)


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
