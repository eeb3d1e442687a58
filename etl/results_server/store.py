"""Results and Records kept in DuckDB, queried with SQL like the real server's Postgres.

`records.ndjson` is loaded with `read_json` straight into a DuckDB file (never as Python objects), streamed in
bounded Arrow batches (`LOAD_BATCH_ROWS`), and each record's protobuf (see wire.py) is encoded in SQL on the way.
The protobufs go to an append-only file beside the database (`PbLog`); the table keeps each record's
`pb_offset`/`pb_length` in it. A ListRecords page is then one keyset query for its keys and offsets (usually
answered from `_KeyCache`) and a few `pread`s: no DuckDB block of record bytes is read, decompressed and checksummed
per page, which was most of the server's CPU at a million records. The table keeps the file's order (no sort of the
whole payload: that spilled gigabytes at a million records).
Reads use one cursor per thread; writes are serialised by a lock because DuckDB allows one writer transaction per
table at a time, and bump a write version that invalidates the listing-key cache (`_KeyCache`).
"""

from __future__ import annotations

import itertools
import os
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
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import WarehouseError
from etl.results_server import wire
from etl.sql import sql_string

NAME_SEGMENT = r"[a-z0-9_-]{1,63}"
# DuckDB's JSON reader sizes its buffers from this (64 MiB cost about 1 GB more RSS on a million-record load than
# 16 MiB, DuckDB's default); one line holds one Kubernetes object, which etcd caps at 1.5 MiB.
MAX_JSON_OBJECT_BYTES = 16 * 1024 * 1024
BAD_RECORD_MARK = "bad record: "
# DuckDB's buffer pool fills up to its limit while the load writes the table, and pages need little memory since
# their bytes come from the `PbLog`: 1 GB keeps the million-record load at about 1.1 GB RSS (2 GB: 2.4 GB).
DEFAULT_MEMORY_LIMIT = "1GB"
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


# One listing key: (rowid, uid, create_us, update_us, pb_offset, pb_length).
Key = tuple[int, str, int, int, int, int]
KEY_COLUMNS = (
    "rowid AS row_id, uid, epoch_us(create_time) AS create_us, epoch_us(update_time) AS update_us, pb_offset, "
    "pb_length"
)
# Where each record's protobuf sits in the `PbLog`, by DuckDB rowid.
SPAN_SCHEMA = pa.schema([("row_id", pa.int64()), ("pb_offset", pa.int64()), ("pb_length", pa.int64())])
# The physical order of the protobuf file: what the ingest walks (one kind, both API versions, by update time), so
# each of its pages is one contiguous run of the file, read with one pread and sent as it is.
PB_FILE_ORDER = "regexp_extract(type, '[^.]*$'), update_time, uid"
# Records per Arrow batch while loading: bounds the load's memory (a batch is a few tens of MB of JSON and protobuf).
LOAD_BATCH_ROWS = 20_000
# Reads of the protobuf file merge neighbouring records when the gap between them is below this: one pread and a
# small over-read beat one system call per record.
READ_GAP_BYTES = 16 * 1024
# Keys fetched per keyset query: one query answers this many rows' worth of pages, the following pages of the same
# walk take their keys from the cache. A query costs about the same at 50,000 or 200,000 keys (it scans the filter
# columns of the whole table either way); a chunk is an Arrow table of about 16 MB, so a cached walk stays small.
KEY_CHUNK_ROWS = 200_000
KEY_CACHE_ENTRIES = 16


class DataLoadError(WarehouseError):
    """records.ndjson is missing or malformed."""


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


class PbLog:
    """Append-only file of framed record protobufs; a record's bytes never move once written, so an offset read
    from any snapshot of the table stays valid. Appends are serialised; reads are positional (`pread`), so any
    number of threads read while one appends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._end = 0
        self._lock = threading.Lock()

    def append(self, data: bytes | memoryview | pa.Buffer) -> int:
        """Write `data` at the end; its offset."""
        view = memoryview(data)
        with self._lock:
            offset = self._end
            written = 0
            while written < len(view):
                written += os.pwrite(self._fd, view[written:], offset + written)
            self._end += len(view)
        return offset

    def append_array(self, values: pa.BinaryArray | pa.LargeBinaryArray) -> tuple[pa.Array, pa.Array]:
        """Write every value of a non-null binary array in one go (its data buffer is their concatenation);
        the file offset and length of each, as int64 arrays."""
        lengths = pc.binary_length(values).cast(pa.int64())
        ends = pc.cumulative_sum(lengths)
        offset_type = pa.int64() if pa.types.is_large_binary(values.type) else pa.int32()
        value_offsets = pa.Array.from_buffers(
            offset_type, len(values) + 1, [None, values.buffers()[1]], offset=values.offset
        )
        first, last = value_offsets[0].as_py(), value_offsets[-1].as_py()
        data = values.buffers()[2]
        base = self.append(data[first:last] if data is not None else b"")
        return pc.add(pc.subtract(ends, lengths), base), lengths

    def read(self, spans: Sequence[tuple[int, int]]) -> list[memoryview]:
        """The bytes at each (offset, length), in the order given. Spans are read in file order, and neighbours
        closer than `READ_GAP_BYTES` share one pread."""
        out: list[memoryview] = [memoryview(b"")] * len(spans)
        order = sorted(range(len(spans)), key=lambda i: spans[i][0])
        i = 0
        while i < len(order):
            start = spans[order[i]][0]
            end = start + spans[order[i]][1]
            j = i + 1
            while j < len(order):
                offset, length = spans[order[j]]
                if offset - end > READ_GAP_BYTES:
                    break
                end = max(end, offset + length)
                j += 1
            chunk = memoryview(self._pread(start, end - start))
            for k in order[i:j]:
                offset, length = spans[k]
                out[k] = chunk[offset - start : offset - start + length]
            i = j
        return out

    def read_joined(self, offsets: list[int], lengths: list[int]) -> bytes:
        """The spans' bytes concatenated in the order given. Spans that follow each other in the file (the
        ingest's pages, see `PB_FILE_ORDER`) are one pread, with no per-record work."""
        if not offsets:
            return b""
        start = offsets[0]
        end = start + sum(lengths)
        if offsets[-1] + lengths[-1] == end and all(
            offset == expected
            for offset, expected in zip(offsets, itertools.accumulate(lengths, initial=start), strict=False)
        ):
            return self._pread(start, end - start)
        return b"".join(self.read(list(zip(offsets, lengths, strict=True))))

    def _pread(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError(f"protobuf file truncated: wanted {length} bytes at {offset}")
        return data

    def close(self) -> None:
        os.close(self._fd)


class Store:
    """The server's database: tables `results` and `records` in a DuckDB file under a private temp folder."""

    def __init__(self, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="results-server-"))
        self._con = duckdb.connect(str(self._dir / "results.duckdb"))
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(f"SET memory_limit = '{memory_limit}'")
        self._con.execute(f"SET temp_directory = '{self._dir / 'spill'}'")
        self.pb_log = PbLog(self._dir / "records.pb")
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
            path = sql_string(str(records_file))
            source = (
                f"SELECT name, uid, type, data, create_time, update_time FROM read_json({path}, "
                f"format = 'newline_delimited', columns = {columns}, maximum_object_size = {MAX_JSON_OBJECT_BYTES})"
            )
        try:
            self._create_tables(source)
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            if BAD_RECORD_MARK in message:
                name = message.split(BAD_RECORD_MARK, 1)[1]
                raise DataLoadError(f"record {name!r} has a bad name, or no create_time or data") from None
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
        # A bad record stops the load through error(): CASE evaluates it only for the rows that take that branch.
        checked_name = (
            f"CASE WHEN regexp_full_match(name, '{NAME_SEGMENT}/results/{NAME_SEGMENT}/records/{NAME_SEGMENT}') "
            "AND create_time IS NOT NULL AND data IS NOT NULL THEN split_part(name, '/', 5) "
            f"ELSE error('{BAD_RECORD_MARK}' || coalesce(name, '')) END"
        )
        con.execute(
            f"""CREATE TABLE records AS
            SELECT split_part(name, '/', 1) AS parent, split_part(name, '/', 3) AS result_name,
                   {checked_name} AS record_name, coalesce(uid, md5(name)::UUID::VARCHAR) AS uid,
                   coalesce(type, '') AS type, data, create_time, coalesce(update_time, create_time) AS update_time,
                   {NAMESPACE_SQL} AS namespace, NULL::BIGINT AS pb_offset, NULL::BIGINT AS pb_length
            FROM ({source})"""
        )
        self._write_pbs()
        con.execute(
            """CREATE TABLE results AS
            SELECT parent, result_name, uuid()::VARCHAR AS uid, min(create_time) AS create_time,
                   max(update_time) AS update_time, NULL::JSON AS annotations, NULL::JSON AS summary
            FROM records GROUP BY parent, result_name ORDER BY parent, result_name"""
        )
        con.execute("CREATE UNIQUE INDEX results_by_name ON results (parent, result_name)")
        con.execute("CREATE UNIQUE INDEX records_by_name ON records (parent, result_name, record_name)")
        con.execute("CREATE INDEX records_by_uid ON records (uid)")

    def _write_pbs(self) -> None:
        """Encode every record's protobuf in SQL, streamed in bounded Arrow batches into the `PbLog`, and store
        each record's offset and length. (The protobufs never enter a DuckDB table: stored there, every page
        read and checksummed their blocks, and dropping a helper column rewrote the whole table.)"""
        con = self._con
        encoded = wire.record_pb_select(
            "SELECT rowid AS row_id, parent, result_name, record_name, uid, type, data, create_time, update_time "
            "FROM records"
        )
        streaming = con.cursor()
        reader = streaming.execute(f"SELECT row_id, pb FROM ({encoded})").to_arrow_reader(LOAD_BATCH_ROWS)
        spans = []
        for batch in reader:
            pbs = batch.column("pb")
            if pbs.null_count:
                pbs = self._with_python_pbs(batch.column("row_id"), pbs)
            offsets, lengths = self.pb_log.append_array(pbs)
            # A copy of the row ids: an array imported from DuckDB keeps its whole batch (protobufs included)
            # alive for as long as any one column of it is referenced.
            row_ids = pc.add(batch.column("row_id"), 0)
            spans.append(
                pa.RecordBatch.from_arrays(
                    [row_ids, offsets, lengths], names=["row_id", "pb_offset", "pb_length"]
                )
            )
            del batch, pbs
        streaming.close()
        written = pa.Table.from_batches(spans, schema=SPAN_SCHEMA)  # noqa: F841 (read by name in the query below)
        ordered = con.execute(
            f"SELECT w.row_id, w.pb_offset, w.pb_length FROM written w JOIN records ON records.rowid = w.row_id "
            f"ORDER BY {PB_FILE_ORDER}"
        ).to_arrow_table()
        spans_table = self._rewrite_pbs_in_order(ordered)  # noqa: F841 (read by name in the UPDATE below)
        con.execute(
            "UPDATE records SET pb_offset = s.pb_offset, pb_length = s.pb_length FROM spans_table s "
            "WHERE records.rowid = s.row_id"
        )

    def _rewrite_pbs_in_order(self, ordered: pa.Table) -> pa.Table:
        """Copy the protobufs into a new file in the order of `ordered` (row_id, pb_offset, pb_length), batch by
        batch; the rows with their new offsets."""
        log = PbLog(self._dir / "records-ordered.pb")
        moved = []
        for batch in ordered.to_batches(LOAD_BATCH_ROWS):
            lengths = batch.column("pb_length")
            base = log.append(
                self.pb_log.read_joined(batch.column("pb_offset").to_pylist(), lengths.to_pylist())
            )
            offsets = pc.add(pc.subtract(pc.cumulative_sum(lengths), lengths), base)
            moved.append(
                pa.RecordBatch.from_arrays([batch.column("row_id"), offsets, lengths], schema=SPAN_SCHEMA)
            )
        self.pb_log.close()
        self.pb_log.path.unlink()
        self.pb_log = log
        return pa.Table.from_batches(moved, schema=SPAN_SCHEMA)

    def _with_python_pbs(self, row_ids: pa.Array, pbs: pa.Array) -> pa.BinaryArray:
        """`pbs` with the values SQL could not encode (timestamps before 1970) encoded in Python (rare)."""
        values = pbs.to_pylist()
        missing = {row_ids[i].as_py(): i for i, pb in enumerate(values) if pb is None}
        rows = self._con.execute(
            f"SELECT rowid, {RECORD_COLUMNS} FROM records WHERE rowid IN (SELECT unnest($ids))",
            {"ids": list(missing)},
        ).fetchall()
        for row_id, *fields in rows:
            values[missing[row_id]] = wire.record_pb(RecordRow(*fields))
        return pa.array(values, pa.binary())

    def close(self) -> None:
        self._con.close()
        self.pb_log.close()
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
    ) -> tuple[KeyPage, bytes]:
        """One keyset page as wire bytes: the keys of up to `page.limit` rows in listing order, and the framed
        protobufs of the first `wanted` of them joined, read from the `PbLog`. Same rows and order as
        `list_records`.

        Keys come from `_KeyCache` when a previous page of the same walk fetched them at the current write
        version, else from one keyset query (a snapshot: its offsets point at bytes that never change). Keys are
        cached only when no write overlapped the query, so a cached walk never serves keys older than a write."""
        query = (parent, result, where_sql, page.order_column, page.descending)
        version = self._version
        keys = self._keys.take(query, page, version)
        chunk: pa.Table | None = None
        chunk_rows = max(page.limit, self.key_chunk_rows)
        if keys is None:
            chunk_page = Page(page.order_column, page.descending, page.after_us, page.after_uid, chunk_rows)
            sql, params = _listing_sql("records", KEY_COLUMNS, parent, result, where_sql, chunk_page)
            chunk = self.cursor().execute(sql, params).to_arrow_table()
            keys = KeyPage(chunk, 0, min(page.limit, chunk.num_rows))
        served = min(wanted, len(keys))
        body = self.pb_log.read_joined(
            keys.column("pb_offset", served).to_pylist(), keys.column("pb_length", served).to_pylist()
        )
        if self._version == version:
            if chunk is not None:
                self._keys.put(query, page, version, chunk, served, chunk.num_rows < chunk_rows)
            else:
                self._keys.advance(query, page, version, keys, served)
        return keys, body

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
        pb = wire.record_pb(new)
        with self._writing() as cur:
            offset = self.pb_log.append(pb)
            cur.execute(
                "INSERT INTO records (parent, result_name, record_name, uid, type, data, create_time, update_time, "
                "namespace, pb_offset, pb_length) VALUES (?, ?, ?, ?, ?, ?, make_timestamptz(?), "
                f"make_timestamptz(?), {NAMESPACE_OF.format('?::JSON')}, ?, ?)",
                [parent, result, record, new.uid, type_, data, at, at, data, offset, len(pb)],
            )
        return self.get_record(parent, result, record)  # type: ignore[return-value]

    def update_record(self, row: RecordRow, type_: str, data: str) -> RecordRow:
        at = self.next_write_time_us()
        new = RecordRow(row.parent, row.result_name, row.record_name, row.uid, type_, data, row.create_us, at)
        pb = wire.record_pb(new)
        with self._writing() as cur:
            offset = self.pb_log.append(pb)
            cur.execute(
                "UPDATE records SET type = ?, data = ?, update_time = make_timestamptz(?), pb_offset = ?, "
                f"pb_length = ?, namespace = {NAMESPACE_OF.format('?::JSON')} WHERE uid = ?",
                [type_, data, at, offset, len(pb), data, row.uid],
            )
        return self.get_record(row.parent, row.result_name, row.record_name)  # type: ignore[return-value]

    def delete_record(self, row: RecordRow) -> None:
        with self._writing() as cur:
            cur.execute("DELETE FROM records WHERE uid = ?", [row.uid])


class KeyPage:
    """Rows [start, stop) of a chunk of listing keys (an Arrow table with `KEY_COLUMNS`): no copy, no Python
    object per key (a cached chunk of tuples cost a list copy per page and garbage-collector passes)."""

    def __init__(self, chunk: pa.Table, start: int, stop: int) -> None:
        self.chunk, self.start, self.stop = chunk, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def key(self, index: int) -> Key:
        row = self.start + index
        return tuple(self.chunk.column(i)[row].as_py() for i in range(6))  # type: ignore[return-value]

    def column(self, name: str, count: int) -> pa.ChunkedArray:
        """The first `count` values of a column."""
        return self.chunk.column(name).slice(self.start, count)


class _KeyCache:
    """Listing keys fetched ahead, so a walk over many pages runs one keyset query per `KEY_CHUNK_ROWS` rows.

    An entry is (query, position after which the keys start) -> (write version, chunk, start, complete), where
    `complete` means the chunk reaches the end of the listing. A page taken from an entry leaves the rest under
    the next position, which is exactly what the next page's token decodes to. Thread-safe; a small LRU."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[int, pa.Table, int, bool]] = OrderedDict()

    @staticmethod
    def _position(page: Page) -> tuple[str | None, int | None]:
        return page.after_uid, page.after_us

    def take(self, query: tuple, page: Page, version: int) -> KeyPage | None:
        with self._lock:
            entry = self._entries.get((query, self._position(page)))
        if entry is None or entry[0] != version:
            return None
        _, chunk, start, complete = entry
        if chunk.num_rows - start < page.limit and not complete:
            return None
        return KeyPage(chunk, start, min(start + page.limit, chunk.num_rows))

    def put(
        self, query: tuple, page: Page, version: int, chunk: pa.Table, served: int, complete: bool
    ) -> None:
        self._store(query, page, version, chunk, 0, served, complete)

    def advance(self, query: tuple, page: Page, version: int, keys: KeyPage, served: int) -> None:
        with self._lock:
            entry = self._entries.pop((query, self._position(page)), None)
        if entry is not None and entry[0] == version:
            self._store(query, page, version, keys.chunk, keys.start, served, entry[3])

    def _store(
        self, query: tuple, page: Page, version: int, chunk: pa.Table, start: int, served: int, complete: bool
    ) -> None:
        """Keep chunk[start + served:] under the position of the last key served (the next page's token)."""
        rest = start + served
        if served <= 0 or rest >= chunk.num_rows:
            return
        _, uid, create_us, update_us, *_ = KeyPage(chunk, rest - 1, rest).key(0)
        after_us = {"create_time": create_us, "update_time": update_us}.get(page.order_column or "")
        with self._lock:
            self._entries[(query, (uid, after_us))] = (version, chunk, rest, complete)
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
