"""The bulk path: source pages → Arrow batches → DuckDB, validated, deduplicated and upserted in SQL.

Objects are never parsed in Python. Each batch is decoded as UTF-8 by Arrow in bulk and scanned by DuckDB in place.
Three threads overlap: one pulls the source's pages; one stages the next batch on a cursor of its own (one SQL pass:
two JSON parses per object for keys and verdict, the strip of bulky fields, the content hash); this one writes the
staged batch in the open transaction: bad rows go to `raw.rejects` with a reason while the good rows of the same
batch load; the newest version of each uid wins (data-model.md "Run identity"); and the upsert touches a stored row
only when the incoming version is newer and its content differs. A transaction spans `commit_rows` objects, so a
crash loses at most that much work in flight, and a re-run loads it again.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.config import IngestSettings
from etl.errors import WarehouseError
from etl.sources import SOURCE_PAGE_SCHEMA

log = logging.getLogger(__name__)
T = TypeVar("T")

KNOWN_KINDS = ("PipelineRun", "TaskRun", "CustomRun")
SOURCES = ("results", "kubernetes", "file")
MAX_REJECT_PAYLOAD_BYTES = 16 * 1024 * 1024
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024
# Above this many stored objects in a cluster, a load does not keep their uids' hashes in memory (8 bytes each) and
# looks every batch up in the table instead.
KNOWN_UIDS_LIMIT = 16_000_000
_M_TRIM_THRESHOLD = -1  # mallopt parameters, glibc's malloc.h
_M_MMAP_THRESHOLD = -3

# Paths pulled in one json_extract_string call (one parse per object instead of one per field).
_KEY_PATHS = [
    "$.metadata.uid",
    "$.kind",
    "$.apiVersion",
    "$.metadata.namespace",
    "$.metadata.name",
    "$.metadata.creationTimestamp",
    "$.metadata.resourceVersion",
]
_TYPE_PATHS = [
    "$",
    "$.metadata",
    "$.status",
    "$.metadata.uid",
    "$.kind",
    "$.apiVersion",
    # The bulky fields the default strip removes: knowing from this same parse which objects carry them means the
    # strip (a parse and a re-serialisation) runs only where it changes something.
    "$.metadata.managedFields",
    "$.status.pipelineSpec",
    "$.status.taskSpec",
]

# Merge patches that delete the bulky, derivable fields (RFC 7396: null deletes). The status part is only applied
# when the object has a status, so that an object without one does not gain an empty `status: {}`.
_STRIP_METADATA_PATCH = '{"metadata":{"managedFields":null}}'
_STRIP_ALL_PATCH = '{"metadata":{"managedFields":null},"status":{"pipelineSpec":null,"taskSpec":null}}'

# The stage: keys, verdict, stripped object and content hash of every row, in one pipeline over the batch (no join,
# no sort: the rows come out in arrival order, which `_stage` checks). `parsed` holds the only two passes over the
# JSON text for keys and verdict (one json_type, one json_extract_string, each with a list of paths). It and
# `stripped` are MATERIALIZED so that DuckDB evaluates each expensive expression exactly once: inlined, the optimizer
# parsed every object once per referencing expression (3x the cost, measured). `stripped` rewrites only the valid
# objects that carry bulky fields (a third parse and a re-serialisation), so the result holds text only for them;
# the others' text stays in the batch's Arrow table and is read again only by the insert.
_STAGE_SQL = f"""
WITH parsed AS MATERIALIZED (
    SELECT seq, nbytes, bad_utf8, txt,
           try(json_type(txt, {_TYPE_PATHS!r})) AS types, try(json_extract_string(txt, {_KEY_PATHS!r})) AS f,
           hash(txt) AS txt_hash
    FROM _raw_incoming
), keyed AS (
    SELECT * EXCLUDE (f), CASE WHEN types[1] = 'OBJECT' THEN f END AS f
    FROM parsed
), named AS (
    SELECT seq, nbytes, bad_utf8, txt, txt_hash, types,
           f[1] AS uid, f[2] AS kind, f[3] AS api_version, f[4] AS namespace, f[5] AS name,
           f[6] AS creation_timestamp_text, try_cast(f[6] AS TIMESTAMPTZ) AS creation_timestamp,
           try_cast(f[7] AS BIGINT) AS resource_version
    FROM keyed
), judged AS (
    SELECT seq, txt, txt_hash, uid, kind, api_version, namespace, name, creation_timestamp, resource_version,
        types[3] IS NOT NULL AS has_status,
        coalesce(types[7] IS NOT NULL OR types[8] IS NOT NULL OR types[9] IS NOT NULL, false) AS has_bulk,
        CASE
            WHEN nbytes IS NULL OR nbytes = 0 THEN 'empty payload'
            WHEN nbytes > $max_bytes
                THEN 'oversize: ' || nbytes || ' bytes, over ingest.max_object_bytes (' || $max_bytes || ')'
            WHEN bad_utf8 THEN 'invalid UTF-8'
            WHEN types IS NULL THEN 'invalid JSON'
            WHEN types[1] <> 'OBJECT' THEN 'not a JSON object (top level is ' || lower(types[1]) || ')'
            WHEN types[2] IS NULL THEN 'no metadata'
            WHEN types[2] <> 'OBJECT' THEN 'metadata is not an object (' || lower(types[2]) || ')'
            WHEN types[3] IS NOT NULL AND types[3] <> 'OBJECT'
                THEN 'status is not an object (' || lower(types[3]) || ')'
            WHEN types[4] IS NULL OR uid = '' THEN 'no metadata.uid'
            WHEN types[4] <> 'VARCHAR' THEN 'metadata.uid is not a string'
            WHEN types[6] IS NULL THEN 'no apiVersion'
            WHEN types[6] <> 'VARCHAR' OR NOT starts_with(api_version, 'tekton.dev/')
                THEN 'apiVersion ' || api_version || ' is not tekton.dev/*'
            WHEN types[5] IS NULL THEN 'no kind'
            WHEN types[5] <> 'VARCHAR' OR kind NOT IN {KNOWN_KINDS!r} THEN 'unknown kind ' || kind
            WHEN creation_timestamp_text IS NOT NULL AND creation_timestamp IS NULL
                THEN 'metadata.creationTimestamp is not a timestamp: ' || creation_timestamp_text
        END AS reason
    FROM named
), stripped AS MATERIALIZED (
    SELECT * EXCLUDE (txt, has_status, has_bulk),
           CASE WHEN $strip AND has_bulk AND reason IS NULL
                THEN json_merge_patch(txt, CASE WHEN has_status THEN $all_patch ELSE $meta_patch END)
           END AS stripped
    FROM judged
)
SELECT seq, uid, hash(uid) AS uid_hash, kind, api_version, namespace, name, creation_timestamp, resource_version,
       reason, stripped,
       -- hash(NULL) is not NULL, hence no coalesce
       CASE WHEN stripped IS NOT NULL THEN printf('%016x', hash(stripped))
            WHEN reason IS NULL THEN printf('%016x', txt_hash) END AS object_hash
FROM stripped
"""

_REJECT_SQL = """
INSERT INTO raw.rejects (rejected_at, cluster, source, source_ref, reason, payload, payload_hash)
SELECT DISTINCT ON (source_ref, payload_hash) $now, $cluster, $source, source_ref, reason, payload, payload_hash
FROM (
    SELECT b.source_ref, b.reason, p.payload, md5(coalesce(p.payload, '')) AS payload_hash
    FROM _raw_batch b,
    LATERAL (
        SELECT CASE WHEN b.txt IS NOT NULL AND b.nbytes <= $max_payload THEN b.txt::VARCHAR
                    ELSE coalesce(try(decode(b.data[1:$max_payload])), CAST(b.data[1:$max_payload] AS VARCHAR))
               END AS payload
    ) p
    WHERE b.reason IS NOT NULL
) r
WHERE NOT EXISTS (
    SELECT 1 FROM raw.rejects x
    WHERE x.cluster = $cluster AND x.source = $source AND x.source_ref IS NOT DISTINCT FROM r.source_ref
      AND x.payload_hash = r.payload_hash
)
"""

# The batch's rows that may be stored: valid, and the newest of their uid within the batch; with the object as stored
# (stripped of the bulky fields by the stage unless keep_full_objects) and its hash. DuckDB's 64-bit hash, in hex:
# 10x cheaper than md5 here. It only tells "same content" from "changed" for a newer version of one uid; should a
# DuckDB upgrade change it, the cost is one rewrite of a row, never a loss.
_CANDIDATES_SQL = """
SELECT seq, uid, kind, api_version, namespace, name, creation_timestamp, resource_version, source_update_time,
       source_ref, coalesce(stripped, txt) AS obj, object_hash
FROM _raw_batch b
WHERE b.reason IS NULL AND b.seq NOT IN (SELECT seq FROM _raw_superseded) {rows}
"""
_STORED_COLUMNS = """(cluster, uid, kind, api_version, namespace, name, creation_timestamp, resource_version,
    source_update_time, source, source_ref, ingested_at, object_hash, object)"""
_STORED_VALUES = """$cluster, uid, kind, api_version, namespace, name, creation_timestamp, resource_version,
    source_update_time, $source, source_ref, $now, object_hash, obj"""

# The stored versions of the batch's valid uids. There is no key index (schema v2): a semi-join that builds on the
# batch's uids and scans the table's key columns finds them. It reads every stored uid, so it only runs for a batch
# that `_KnownUids` says may meet some.
_STORED_SQL = """
CREATE OR REPLACE TEMP TABLE _raw_stored AS
SELECT uid, resource_version, source_update_time, object_hash FROM raw.tekton_objects
WHERE cluster = $cluster AND {uids}
"""
_BATCH_UIDS = "uid IN (SELECT uid FROM _raw_batch WHERE reason IS NULL)"

# Step 1, uids not stored yet: appended. `NOT IN` rather than a correlated `NOT EXISTS`, which DuckDB turned into a
# delim join that first copied every candidate row, object text included (7% of the insert's CPU, measured). Both
# sides' uids are never NULL (valid rows have one; the table's column is NOT NULL), so the two mean the same.
_INSERT_NEW_SQL = f"""
INSERT INTO raw.tekton_objects {_STORED_COLUMNS}
SELECT {_STORED_VALUES}
FROM ({_CANDIDATES_SQL.format(rows="AND b.uid NOT IN (SELECT uid FROM _raw_stored)")})
"""

# Step 2, uids stored already (only when there are some): the rows that replace their stored version. Rows whose uid
# repeats in the batch were already decided against the stored version by the fold (_raw_decided); the others follow
# the newest-version rule here. Same content is never a change.
_REPLACING_SQL = f"""
CREATE OR REPLACE TEMP TABLE _raw_replacing AS
SELECT c.* FROM ({_CANDIDATES_SQL.format(rows="AND b.uid IN (SELECT uid FROM _raw_stored)")}) c
JOIN _raw_stored t ON t.uid = c.uid
WHERE c.object_hash <> t.object_hash
  AND (c.seq IN (SELECT seq FROM _raw_decided) OR CASE
        WHEN c.resource_version IS NOT NULL AND t.resource_version IS NOT NULL
            THEN c.resource_version > t.resource_version
        WHEN c.source_update_time IS NOT NULL AND t.source_update_time IS NOT NULL
            THEN c.source_update_time > t.source_update_time
        ELSE true
      END)
"""
# A replaced version is deleted and the new one appended, never updated in place: new rows then stay together at
# the end of the table, so readers filtering on ingested_at (dbt's incremental staging) skip the old row groups by
# their zone maps, and a checkpoint writes the new rows instead of rewriting every row group an update touched.
_DELETE_REPLACED_SQL = (
    "DELETE FROM raw.tekton_objects WHERE cluster = $cluster AND uid IN (SELECT uid FROM _raw_replacing)"
)
_APPEND_REPLACING_SQL = (
    f"INSERT INTO raw.tekton_objects {_STORED_COLUMNS} SELECT {_STORED_VALUES} FROM _raw_replacing"
)


@dataclass
class LoadCounts:
    """What one load did. `fetched` = `loaded` + `unchanged` + `rejected`; `unchanged` includes versions that were
    older than (or identical to) what the warehouse already holds, and older duplicates within a batch."""

    fetched: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    max_source_update_time: datetime | None = None
    batches: int = field(default=0, compare=False)

    def add(self, other: LoadCounts) -> None:
        self.fetched += other.fetched
        self.loaded += other.loaded
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.batches += other.batches
        self.max_source_update_time = _later(self.max_source_update_time, other.max_source_update_time)

    def summary(self) -> str:
        return f"loaded {self.loaded}, unchanged {self.unchanged}, rejected {self.rejected} (see raw.rejects)"


# Called inside each transaction just before it commits, with the running totals of the load so far: ingest moves
# the watermark here, so it commits atomically with the data it covers.
BeforeCommit = Callable[[duckdb.DuckDBPyConnection, LoadCounts], None]
Progress = Callable[[LoadCounts], None]


def load_pages(
    con: duckdb.DuckDBPyConnection,
    pages: Iterable[pa.Table],
    *,
    cluster: str,
    source: str,
    settings: IngestSettings,
    before_commit: BeforeCommit | None = None,
    on_batch: Progress | None = None,
) -> LoadCounts:
    """Load pages in `SOURCE_PAGE_SCHEMA` into `raw.tekton_objects` / `raw.rejects`, in batches of about
    `settings.batch_size` objects, committing every `settings.commit_rows` objects.

    Memory is bounded by one batch whatever the length of the history (a transaction's rows are DuckDB's to spill
    or write out). A crash loses at most the open transaction; the watermark commits with it, so a re-run loads that
    work again. When the source fails between batches, the batches loaded so far commit before the error surfaces;
    when loading a batch fails, the open transaction rolls back. `on_batch` sees the running totals after every
    batch."""
    if source not in SOURCES:
        raise WarehouseError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    _return_big_blocks_to_the_os()
    # The stage (the two JSON parses, the strip and the hash: pure computation on a batch) runs for the next batch
    # on a cursor of its own in the prefetch thread while this thread loads (DuckDB releases the GIL); only the work
    # that needs the table and the transaction stays here.
    stager = con.cursor()
    for connection in (con, stager):
        connection.execute("SET python_enable_replacements = true")  # for `_execute`
    try:
        return _load_batches(con, stager, pages, cluster, source, settings, before_commit, on_batch)
    finally:
        con.execute("SET python_enable_replacements = false")
        stager.close()


def _return_big_blocks_to_the_os() -> None:
    """Have glibc serve allocations of MMAP_THRESHOLD_BYTES and more with their own mappings, returned to the OS on
    free. By default glibc raises that threshold to the largest block freed so far, after which the batches' big
    buffers (read blocks, Arrow and DuckDB vectors of several MB, allocated and freed by the loader's threads) stay
    in its per-thread heaps: a 1M-object import peaked at 1,060 MB RSS instead of 909 MB (measured).

    Fixing that threshold also fixes the trim threshold at glibc's 128 KB, so a heap gave back its top whenever a
    block of a few MB was freed there (a gRPC page, ~3 MB, is joined into one bytes object and freed per page) and
    faulted the same pages in again for the next one: 2.5 million page faults and 15.8 s of system time in a 1M
    ingest. Keeping up to TRIM_THRESHOLD_BYTES at a heap's top: 1.4 million faults, 11.0-11.4 s, peak RSS
    +30-50 MB (measured). Elsewhere, a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        return


def _load_batches(
    con: duckdb.DuckDBPyConnection,
    stager: duckdb.DuckDBPyConnection,
    pages: Iterable[pa.Table],
    cluster: str,
    source: str,
    settings: IngestSettings,
    before_commit: BeforeCommit | None,
    on_batch: Progress | None,
) -> LoadCounts:
    total = LoadCounts()
    open_rows = 0
    known = _KnownUids.of_cluster(con, cluster)
    # Three threads: the source's pages (network, server, file) gathered into the next-but-one batch, the stage of
    # the next batch, and this one's load. (Gathering pages into batches on the stage's thread held the source
    # back to one page ahead while a stage ran: measured 9 s of waiting at 1M objects.)
    batches = prefetched(_batches(pages, settings.batch_size))
    staged = prefetched(_stage(stager, batch, settings) for batch in batches)
    try:
        while True:
            try:
                batch = next(staged, None)
            except BaseException:
                # The source failed between batches: what is loaded so far is whole batches in update order, so
                # it commits with its watermark and the re-run starts from there.
                if open_rows:
                    _commit(con, total, before_commit)
                raise
            if batch is None:
                break
            if open_rows == 0:
                con.execute("BEGIN TRANSACTION")
            try:
                total.add(_load_batch(con, batch, cluster, source, known))
            except BaseException:
                con.execute("ROLLBACK")
                raise
            open_rows += batch.rows.num_rows
            if open_rows >= settings.commit_rows:
                _commit(con, total, before_commit)
                open_rows = 0
            if on_batch is not None:
                on_batch(total)
        if open_rows:
            _commit(con, total, before_commit)
    finally:
        staged.close()  # stops the stage's thread before its cursor closes, then the source's
        batches.close()
    return total


def _commit(con: duckdb.DuckDBPyConnection, total: LoadCounts, before_commit: BeforeCommit | None) -> None:
    """Run the hook (the watermark) and commit; if either fails, nothing of the open transaction stays."""
    try:
        if before_commit is not None:
            before_commit(con, total)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("committed %d objects so far: %s", total.fetched, total.summary())


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Pull items (pages from a source, staged batches) in a background thread, at most `depth` ahead, so that
    producing the next one (network, server, file, the stage) overlaps with consuming this one (DuckDB and gRPC both
    release the GIL). Errors of the producer surface here, in the consumer; closing this generator stops the
    producer."""
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(handoff, stop, ("item", item)):
                    return
            _offer(handoff, stop, ("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _offer(handoff, stop, ("error", exc))

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while True:
            what, item = handoff.get()
            if what == "end":
                return
            if what == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join(timeout=60)


def _offer(handoff: queue.Queue, stop: threading.Event, item: tuple[str, object]) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _batches(pages: Iterable[pa.Table], batch_size: int) -> Iterator[pa.Table]:
    """Regroup pages into batches of about `batch_size` rows; only one batch's pages are held at a time."""
    pending: list[pa.Table] = []
    pending_rows = 0
    for page in pages:
        page = _conform(page)
        for offset in range(0, page.num_rows, batch_size):
            piece = page.slice(offset, batch_size)
            pending.append(piece)
            pending_rows += piece.num_rows
            if pending_rows >= batch_size:
                yield pa.concat_tables(pending)
                pending, pending_rows = [], 0
    if pending_rows:
        yield pa.concat_tables(pending)


def _conform(page: pa.Table) -> pa.Table:
    if page.schema.equals(SOURCE_PAGE_SCHEMA):
        return page
    try:
        return page.select(SOURCE_PAGE_SCHEMA.names).cast(SOURCE_PAGE_SCHEMA)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise WarehouseError(f"a source yielded a page not in SOURCE_PAGE_SCHEMA: {exc}") from None


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None, **tables: pa.Table
) -> duckdb.DuckDBPyConnection:
    """`con.execute(sql, params)` with each of `tables` visible to the SQL under its keyword's name, for this
    statement only.

    Not `con.register`: a registered table is a catalog entry, and DuckDB keeps a dropped catalog entry, with the
    Arrow data it holds, until the transaction commits, so every batch of a transaction stayed in memory (measured:
    1 GB of Arrow buffers after 200,000 objects in one transaction). DuckDB's replacement scan finds the table among
    the variables of the frame that runs the statement instead (here the `eval` frame, whose variables are exactly
    these) and lets go of it when the statement ends. `load_pages` turns replacement scans on while it runs."""
    return eval("con.execute(sql, params)", {}, {"con": con, "sql": sql, "params": params, **tables})


@dataclass
class _BatchSql:
    """Statements over one batch: `_raw_batch` in their SQL is the batch's Arrow table (keys, verdict, text)."""

    con: duckdb.DuckDBPyConnection
    rows: pa.Table

    def execute(self, sql: str, params: dict | None = None) -> duckdb.DuckDBPyConnection:
        return _execute(self.con, sql, params, _raw_batch=self.rows)


@dataclass(frozen=True)
class _StagedBatch:
    """A batch after the stage: `rows` is `_raw_batch` (the text, and per row its keys, verdict, stripped object and
    hash), ready for the transactional part."""

    rows: pa.Table
    max_source_update_time: datetime | None

    def valid_uid_hashes(self) -> np.ndarray:
        valid = pc.is_null(self.rows.column("reason"))
        return self.rows.column("uid_hash").filter(valid).to_numpy()


class _KnownUids:
    """DuckDB's hashes of the uids a cluster holds, kept sorted for the length of one load: a batch none of whose uids
    is known needs no lookup in the table, which reads every stored uid (at 1M stored objects, 4.7 s of CPU over the
    100 batches of an import; and an import's cost would grow with the warehouse it lands in). Hashes may collide
    and a rolled-back batch's uids stay known: either only costs a lookup. The load is the only writer (the writer
    lock), so every stored uid is either read here at the start or added by the load itself.

    Sorted runs merge like a binary counter, so adding a batch costs O(batch log n), not a re-sort of everything.
    `None` runs (a cluster above KNOWN_UIDS_LIMIT objects) mean "unknown": every batch is looked up."""

    def __init__(self, stored: np.ndarray | None):
        self._runs: list[np.ndarray] | None = None if stored is None else [np.sort(stored)]

    @classmethod
    def of_cluster(cls, con: duckdb.DuckDBPyConnection, cluster: str) -> _KnownUids:
        params = {"cluster": cluster}
        stored = con.execute(
            "SELECT count(*) FROM raw.tekton_objects WHERE cluster = $cluster", params
        ).fetchone()[0]
        if stored > KNOWN_UIDS_LIMIT:
            return cls(None)
        hashes = con.execute("SELECT hash(uid) AS h FROM raw.tekton_objects WHERE cluster = $cluster", params)
        return cls(hashes.fetchnumpy()["h"].astype(np.uint64, copy=False))

    def may_hold_any(self, uid_hashes: np.ndarray) -> bool:
        if self._runs is None:
            return True
        for run in self._runs:
            if len(run) and np.any(
                run[np.minimum(np.searchsorted(run, uid_hashes), len(run) - 1)] == uid_hashes
            ):
                return True
        return False

    def add(self, uid_hashes: np.ndarray) -> None:
        if self._runs is None or not len(uid_hashes):
            return
        self._runs.append(np.sort(uid_hashes))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]))


def _stage(stager: duckdb.DuckDBPyConnection, batch: pa.Table, settings: IngestSettings) -> _StagedBatch:
    """Keys, verdict, stripped object and hash of every row of `batch`, lined up with its rows."""
    incoming = _incoming(batch, settings.max_object_bytes)
    params = {
        "max_bytes": settings.max_object_bytes,
        "strip": not settings.keep_full_objects,
        "meta_patch": _STRIP_METADATA_PATCH,
        "all_patch": _STRIP_ALL_PATCH,
    }
    staged = _in_arrival_order(_execute(stager, _STAGE_SQL, params, _raw_incoming=incoming).to_arrow_table())
    # The stripped objects become JSON again for the insert (DuckDB hands JSON to Arrow as plain strings).
    position = staged.column_names.index("stripped")
    staged = staged.set_column(position, "stripped", _as_json(staged.column(position)))
    # Keys and verdicts line up with the rows (in arrival order): the batch's text is never copied back.
    rows = pa.Table.from_arrays(
        [*incoming.columns, *staged.columns], names=[*incoming.column_names, *staged.column_names]
    )
    return _StagedBatch(rows, pc.max(batch.column("source_update_time")).as_py())


def _in_arrival_order(staged: pa.Table) -> pa.Table:
    """The stage's rows by `seq`, without it. A single-threaded pipeline keeps them in order, so this is a check
    that costs a comparison; sorting in SQL cost ~5% of the stage (it moves the stripped text)."""
    seq = staged.column("seq").to_numpy()
    if not np.array_equal(seq, np.arange(len(seq))):
        staged = staged.take(pc.sort_indices(staged.column("seq")))
    return staged.drop_columns(["seq"])


def _as_json(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text typed as Arrow's JSON extension, which DuckDB reads as JSON without parsing it again."""
    return pa.chunked_array(
        [pa.ExtensionArray.from_storage(pa.json_(), chunk) for chunk in text.chunks], pa.json_()
    )


def _load_batch(
    con: duckdb.DuckDBPyConnection, batch: _StagedBatch, cluster: str, source: str, known: _KnownUids
) -> LoadCounts:
    """Rejects, in-batch dedupe and upsert of one staged batch, inside the caller's open transaction."""
    counts = LoadCounts(fetched=batch.rows.num_rows, batches=1)
    counts.max_source_update_time = batch.max_source_update_time
    batch_sql = _BatchSql(con, batch.rows)
    uid_hashes = batch.valid_uid_hashes()
    try:
        now = con.execute("SELECT now()").fetchone()[0]
        counts.rejected = _insert_rejects(batch_sql, now, cluster, source)
        uids = _BATCH_UIDS if known.may_hold_any(uid_hashes) else "false"
        batch_sql.execute(_STORED_SQL.format(uids=uids), {"cluster": cluster})
        _mark_superseded(batch_sql, uid_hashes)
        counts.loaded = _upsert(batch_sql, now, cluster, source)
        counts.unchanged = counts.fetched - counts.loaded - counts.rejected
        known.add(uid_hashes)
    finally:
        for temp in ("_raw_stored", "_raw_superseded", "_raw_decided"):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    log.info("batch of %d: %s", counts.fetched, counts.summary())
    return counts


def _incoming(batch: pa.Table, max_bytes: int) -> pa.Table:
    """The batch as DuckDB will scan it: arrival order, size, and the text decoded as UTF-8 by Arrow in bulk
    (null where too big or not UTF-8, flagged so the reject says which)."""
    data = batch.column("data")
    nbytes = pc.binary_length(data)
    fits = pc.fill_null(pc.less_equal(nbytes, max_bytes), False)
    try:
        text = pc.cast(data, pa.string())
        bad_utf8 = pa.nulls(len(data), pa.bool_()).fill_null(False)
    except pa.ArrowInvalid:
        text, bad_utf8 = _decode_row_by_row(data)
    if not pc.all(fits).as_py():
        text = pc.if_else(fits, text, pa.scalar(None, pa.string()))
    # Typed JSON so DuckDB sees JSON: the insert then skips a second validation parse (the stage already proved each
    # loaded row valid with json_type).
    txt = _as_json(text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text]))
    return pa.table(
        {
            "seq": pa.array(range(batch.num_rows), pa.int64()),
            "source_ref": batch.column("source_ref"),
            "source_update_time": batch.column("source_update_time"),
            "nbytes": nbytes,
            "bad_utf8": bad_utf8,
            "txt": txt,
            "data": data,
        }
    )


def _decode_row_by_row(data: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Only for a batch that holds invalid UTF-8 (rare): find the offending rows."""
    texts: list[str | None] = []
    bad: list[bool] = []
    for value in data.to_pylist():
        try:
            texts.append(None if value is None else value.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            texts.append(None)
            bad.append(True)
    return pa.array(texts, pa.string()), pa.array(bad, pa.bool_())


def _insert_rejects(batch: _BatchSql, now: datetime, cluster: str, source: str) -> int:
    """Record the batch's bad rows (once: a re-run meeting the same bad object adds nothing); returns how many
    rows of the batch were bad."""
    bad = batch.rows.num_rows - batch.rows.column("reason").null_count
    if bad:  # most batches have none: no statement then
        params = {"now": now, "cluster": cluster, "source": source, "max_payload": MAX_REJECT_PAYLOAD_BYTES}
        batch.execute(_REJECT_SQL, params)
    return bad


def _mark_superseded(batch: _BatchSql, uid_hashes: np.ndarray) -> None:
    """Within a batch, keep only the newest version of each uid.

    The rule is pairwise (resourceVersion when both have one, else source update time when both have one, else the
    later arrival) and not transitive, so it is applied as a fold in arrival order starting from the stored
    version (`_raw_stored`): exactly as if the versions had arrived one batch each, whatever the batch size. Only
    the keys of uids that repeat inside the batch reach Python, never the objects. The fold's winners go to
    `_raw_decided`. A batch whose valid uids' hashes are all distinct repeats no uid: it skips the query."""
    repeated = []
    if len(np.unique(uid_hashes)) < len(uid_hashes):
        repeated = batch.execute(
            """
            WITH repeated AS (SELECT uid FROM _raw_batch WHERE reason IS NULL GROUP BY uid HAVING count(*) > 1)
            SELECT uid, list(struct_pack(seq, resource_version, source_update_time) ORDER BY seq)
            FROM _raw_batch WHERE reason IS NULL AND uid IN (SELECT uid FROM repeated) GROUP BY uid
            """
        ).fetchall()
    stored: dict[str, dict] = {}
    if repeated:
        repeated_uids = pa.table({"uid": pa.array([uid for uid, _ in repeated], pa.string())})
        rows = _execute(
            batch.con,
            "SELECT uid, resource_version, source_update_time FROM _raw_stored "
            "WHERE uid IN (SELECT uid FROM _raw_repeated)",
            _raw_repeated=repeated_uids,
        ).fetchall()
        stored = {uid: {"seq": None, "resource_version": rv, "source_update_time": t} for uid, rv, t in rows}
    superseded: list[int] = []
    decided: list[int] = []
    for uid, versions in repeated:
        winner = stored.get(uid, versions[0])
        for candidate in versions if uid in stored else versions[1:]:
            loser = winner if _is_newer(candidate, winner) else candidate
            winner = candidate if loser is winner else winner
            if loser["seq"] is not None:
                superseded.append(loser["seq"])
        if winner["seq"] is not None:
            decided.append(winner["seq"])
    _temp_seq_table(batch.con, "_raw_superseded", superseded)
    _temp_seq_table(batch.con, "_raw_decided", decided)


def _temp_seq_table(con: duckdb.DuckDBPyConnection, name: str, seqs: list[int]) -> None:
    seq_table = pa.table({"seq": pa.array(seqs, pa.int64())})
    _execute(con, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT seq FROM _seqs", _seqs=seq_table)


def _is_newer(candidate: dict, current: dict) -> bool:
    """data-model.md "Run identity", for two versions of one uid where `candidate` arrived later."""
    if candidate["resource_version"] is not None and current["resource_version"] is not None:
        return candidate["resource_version"] > current["resource_version"]
    if candidate["source_update_time"] is not None and current["source_update_time"] is not None:
        return candidate["source_update_time"] > current["source_update_time"]
    return True


def _upsert(batch: _BatchSql, now: datetime, cluster: str, source: str) -> int:
    """Store the batch's candidates; returns how many rows were written (new uids plus replaced versions)."""
    params = {"now": now, "cluster": cluster, "source": source}
    inserted = batch.execute(_INSERT_NEW_SQL, params).fetchone()[0]
    if batch.execute("SELECT count(*) FROM _raw_stored").fetchone()[0] == 0:
        return inserted
    try:
        batch.execute(_REPLACING_SQL)
        replaced = batch.execute("SELECT count(*) FROM _raw_replacing").fetchone()[0]
        if replaced:
            batch.execute(_DELETE_REPLACED_SQL, {"cluster": cluster})
            batch.execute(_APPEND_REPLACING_SQL, params)
    finally:
        batch.execute("DROP TABLE IF EXISTS _raw_replacing")
    return inserted + int(replaced)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def record_rejects(
    con: duckdb.DuckDBPyConnection, rejects: Iterable[tuple[str, str, str]], *, cluster: str, source: str
) -> int:
    """Record whole-file or whole-document problems found by a source as (source_ref, reason, payload), once each
    (the same dedupe as batch rejects). Returns how many were given."""
    rows = list(rejects)
    if not rows:
        return 0
    refs, reasons, payloads = zip(*rows, strict=True)
    table = pa.table(
        {
            "source_ref": pa.array(refs, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "payload": pa.array([p[:MAX_REJECT_PAYLOAD_BYTES] for p in payloads], pa.string()),
        }
    )
    con.register("_raw_file_rejects", table)
    try:
        con.execute(
            """
            INSERT INTO raw.rejects (rejected_at, cluster, source, source_ref, reason, payload, payload_hash)
            SELECT now(), $cluster, $source, source_ref, reason, payload, md5(coalesce(payload, ''))
            FROM _raw_file_rejects r
            WHERE NOT EXISTS (
                SELECT 1 FROM raw.rejects x
                WHERE x.cluster = $cluster AND x.source = $source AND x.source_ref IS NOT DISTINCT FROM r.source_ref
                  AND x.payload_hash = md5(coalesce(r.payload, ''))
            )
            """,
            {"cluster": cluster, "source": source},
        )
    finally:
        con.unregister("_raw_file_rejects")
    return len(rows)
