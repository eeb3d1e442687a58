"""Exported files as source pages: kubectl JSON lists, single objects, multi-document YAML, NDJSON, Tekton Results
REST list responses and generator record files, optionally gzipped. The format is sniffed from the content.

Hot path (NDJSON of objects): lines go straight from the file into Arrow binary arrays in chunks, unparsed; the raw
layer parses them in DuckDB. Envelopes (lists, Results records, base64 `data.value`) are unwrapped in bulk by a
private in-memory DuckDB, never object by object in Python. Limits: a JSON file that is not NDJSON is read as whole
documents, so its largest document must fit in memory (`MAX_DOCUMENT_BYTES`); export big histories as NDJSON.
YAML is parsed in Python one document at a time (YAML is for small hand exports).

Every object gets `source_ref = "<path>:<line or document number, from 1>"`, plus `#<index from 0>` when it came
out of a list. Problems that concern a whole file or document (not JSON, broken YAML) become `FileReject`s.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from etl.errors import SourceError
from etl.sources import SOURCE_PAGE_SCHEMA
from etl.warehouse.schema import quiet

GZIP_MAGIC = b"\x1f\x8b"
# A first line longer than this is not sniffed as NDJSON; such files are still read whole by DuckDB.
SNIFF_BYTES = 1024 * 1024
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024
MAX_REJECT_PAYLOAD_CHARS = 16 * 1024 * 1024
_YAML_SEPARATOR = re.compile(rb"^---(\s|$)")

# Turns documents (ref, doc) into page rows, unwrapping Kubernetes lists, top-level arrays, Results list responses
# (both JSON casings) and single Results records (REST base64 `data.value`, or generator records whose `data` is
# the object itself). Anything else, valid or not, passes through untouched for the raw layer to judge.
_UNWRAP_SQL = """
WITH typed AS (
    SELECT ref, doc, CASE WHEN json_valid(doc) THEN json_type(doc, ['$', '$.items', '$.records']) END AS t
    FROM _file_docs
), docs AS (
    SELECT ref, doc, t, coalesce(t[1] = 'ARRAY' OR t[2] = 'ARRAY' OR t[3] = 'ARRAY', false) AS is_list
    FROM typed
), entries AS (
    SELECT ref, doc AS entry FROM docs WHERE NOT is_list
    UNION ALL
    SELECT ref || '#' || idx, entry FROM (
        SELECT ref, unnest(elems) AS entry, unnest(range(len(elems))) AS idx
        FROM (
            SELECT ref, CASE WHEN t[1] = 'ARRAY' THEN json_extract(doc, '$[*]')
                             WHEN t[2] = 'ARRAY' THEN json_extract(doc, '$.items[*]')
                             ELSE json_extract(doc, '$.records[*]') END AS elems
            FROM docs WHERE is_list
        )
    )
), shaped AS (
    SELECT ref, entry,
           CASE WHEN json_valid(entry) THEN json_type(entry, ['$.data', '$.apiVersion', '$.data.value']) END AS s
    FROM entries
)
SELECT ref AS source_ref, NULL::VARCHAR AS type_hint, NULL::TIMESTAMPTZ AS source_update_time,
       encode(entry::VARCHAR) AS data
FROM shaped WHERE s IS NULL OR s[1] IS DISTINCT FROM 'OBJECT' OR s[2] IS NOT NULL
UNION ALL
SELECT ref, coalesce(json_extract_string(entry, '$.data.type'), json_extract_string(entry, '$.type')),
       try_cast(coalesce(json_extract_string(entry, '$.update_time'), json_extract_string(entry, '$.updateTime'))
                AS TIMESTAMPTZ),
       CASE WHEN s[3] = 'VARCHAR'
                THEN coalesce(try(from_base64(json_extract_string(entry, '$.data.value'))), encode(entry::VARCHAR))
            WHEN s[3] = 'OBJECT' THEN encode(json_extract(entry, '$.data.value')::VARCHAR)
            ELSE encode(json_extract(entry, '$.data')::VARCHAR)
       END
FROM shaped WHERE s[1] = 'OBJECT' AND s[2] IS NULL
"""


@dataclass(frozen=True)
class FileReject:
    """A whole file or document that could not be read as objects; kept with its text in `raw.rejects`."""

    source_ref: str
    reason: str
    payload: str


class FileSource:
    """One exported file as a stream of pages. `rejects` fills while the pages are consumed."""

    def __init__(self, path: Path, chunk_rows: int = 5000, display_name: str | None = None):
        self.path = Path(path)
        self.name = display_name or str(path)
        self.chunk_rows = chunk_rows
        self.rejects: list[FileReject] = []
        self.size = self.path.stat().st_size if self.path.exists() else 0
        self._raw: BinaryIO | None = None

    @property
    def bytes_read(self) -> int:
        """Compressed bytes consumed so far, for a progress bar against `size`."""
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return self.size

    def pages(self) -> Iterator[pa.Table]:
        try:
            self._raw = open(self.path, "rb", buffering=1024 * 1024)  # noqa: SIM115 - open for `bytes_read`
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        with self._raw:
            stream = _maybe_gunzip(self._raw)
            try:
                yield from self._pages_by_format(stream)
            except (EOFError, gzip.BadGzipFile, OSError) as exc:
                self.rejects.append(FileReject(self.name, f"cannot read file: {exc}", ""))

    def _pages_by_format(self, stream: io.BufferedReader) -> Iterator[pa.Table]:
        head = stream.peek(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head:
            self.rejects.append(FileReject(self.name, "empty file", ""))
            return
        if head[:1] in (b"{", b"["):
            first_line = self._sniff_line()
            if _is_ndjson(first_line):
                yield from self._ndjson_pages(stream, envelope=_is_envelope(first_line))
            else:
                yield from self._json_document_pages(stream)
        else:
            yield from self._yaml_pages(stream)

    def _sniff_line(self) -> bytes:
        """The first non-blank line (at most SNIFF_BYTES), read through a handle of its own."""
        with open(self.path, "rb") as raw:
            stream = _maybe_gunzip(raw)
            while line := stream.readline(SNIFF_BYTES):
                if line.strip():
                    return line
        return b""

    # NDJSON --------------------------------------------------------------------------------------------------

    def _ndjson_pages(self, stream: io.BufferedReader, envelope: bool) -> Iterator[pa.Table]:
        """One page per block of about CHUNK_BYTES: lines are cut by a newline search over the block and handed
        to Arrow as offsets into the block, never as one Python bytes object per line (which cost ~10 us per object,
        as much as DuckDB's own read of the file)."""
        line_number = 0
        for block in _line_blocks(stream):
            lines = _split_lines(block)
            for start in range(0, len(lines), self.chunk_rows):
                chunk = lines.slice(start, self.chunk_rows)
                page = self._lines_page(chunk, line_number + start + 1)
                if page.num_rows:
                    yield _unwrap(page) if envelope else page
            line_number += len(lines)

    def _lines_page(self, lines: pa.Array, first_line_number: int) -> pa.Table:
        numbers = pa.array(np.arange(first_line_number, first_line_number + len(lines), dtype=np.int64))
        data = _trim_lines(lines)
        keep = pc.greater(pc.binary_length(data), 0)
        data, numbers = data.filter(keep), numbers.filter(keep)
        refs = pc.binary_join_element_wise(pa.scalar(f"{self.name}:"), pc.cast(numbers, pa.string()), "")
        return _page(refs, pa.nulls(len(data), pa.string()), data)

    # Whole JSON documents ------------------------------------------------------------------------------------

    def _json_document_pages(self, stream: io.BufferedReader) -> Iterator[pa.Table]:
        """Whole JSON documents, read and unwrapped by DuckDB straight from the file (gzip included)."""
        compressed = self._raw is not None and _starts_with_gzip(self.path)
        con = quiet(duckdb.connect())
        try:
            try:
                con.execute(
                    "CREATE TEMP TABLE _file_docs AS SELECT $name || ':' || row_number() OVER () AS ref, "
                    "json::VARCHAR AS doc FROM read_json_objects($path, format='unstructured', "
                    "compression=$compression, maximum_object_size=$max_size)",
                    {
                        "name": self.name,
                        "path": str(self.path),
                        "compression": "gzip" if compressed else "uncompressed",
                        # DuckDB sizes its read buffers by this: no document is bigger than its own file.
                        "max_size": MAX_DOCUMENT_BYTES
                        if compressed
                        else min(MAX_DOCUMENT_BYTES, self.size + 1024),
                    },
                )
            except duckdb.Error as exc:
                reason = f"not valid JSON, NDJSON or YAML ({_first_line(exc)})"
                self.rejects.append(
                    FileReject(self.name, reason, _reject_text(stream.read(MAX_REJECT_PAYLOAD_CHARS)))
                )
                return
            reader = con.execute(_UNWRAP_SQL).fetch_record_batch(self.chunk_rows)
            for batch in reader:
                yield pa.Table.from_batches([batch]).cast(SOURCE_PAGE_SCHEMA)
        finally:
            con.close()

    # YAML ----------------------------------------------------------------------------------------------------

    def _yaml_pages(self, stream: io.BufferedReader) -> Iterator[pa.Table]:
        refs: list[str] = []
        datas: list[bytes] = []
        for number, document in enumerate(_yaml_documents(stream), start=1):
            ref = f"{self.name}:{number}"
            try:
                value = yaml.load(document, Loader=_NoTimestampLoader)
            except yaml.YAMLError as exc:
                reason = f"invalid YAML: {str(exc).splitlines()[0]}"
                self.rejects.append(FileReject(ref, reason, _reject_text(document)))
                continue
            if value is None:
                continue
            if not isinstance(value, dict | list):
                reason = "not JSON, NDJSON or YAML objects"
                self.rejects.append(FileReject(ref, reason, _reject_text(document)))
                continue
            refs.append(ref)
            datas.append(json.dumps(value, separators=(",", ":")).encode())
            if len(refs) >= self.chunk_rows:
                yield _unwrap(
                    _page(pa.array(refs), pa.nulls(len(refs), pa.string()), pa.array(datas, pa.binary()))
                )
                refs, datas = [], []
        if refs:
            yield _unwrap(
                _page(pa.array(refs), pa.nulls(len(refs), pa.string()), pa.array(datas, pa.binary()))
            )


class _NoTimestampLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings Kubernetes wrote, so the JSON we store matches kubectl's."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _maybe_gunzip(raw: BinaryIO) -> io.BufferedReader:
    buffered = (
        io.BufferedReader(raw, buffer_size=1024 * 1024) if not isinstance(raw, io.BufferedReader) else raw
    )
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered), buffer_size=1024 * 1024)  # type: ignore[arg-type]
    return buffered


def _is_ndjson(first_line: bytes) -> bool:
    """NDJSON when the first line alone is one complete JSON value (a pretty-printed document is not)."""
    stripped = first_line.strip()
    if not stripped or len(stripped) >= SNIFF_BYTES:
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _is_envelope(first_line: bytes) -> bool:
    """Whether NDJSON lines carry lists or Results records rather than bare objects (decided once per file)."""
    value = json.loads(first_line)
    if not isinstance(value, dict):
        return True
    return "items" in value or "records" in value or ("data" in value and "apiVersion" not in value)


def _starts_with_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _yaml_documents(stream: io.BufferedReader) -> Iterator[bytes]:
    """Split a YAML stream on `---` lines without parsing, so one broken document does not hide the others."""
    current: list[bytes] = []
    for line in stream:
        if _YAML_SEPARATOR.match(line):
            if any(part.strip() for part in current):
                yield b"".join(current)
            current = []
            continue
        current.append(line)
    if any(part.strip() for part in current):
        yield b"".join(current)


def _line_blocks(stream: io.BufferedReader) -> Iterator[memoryview]:
    """The stream in blocks of whole lines, each ending with a newline: about CHUNK_BYTES each (a longer line makes
    its block longer). Each block is a fresh buffer that its lines' Arrow arrays point into (no copy per line); the
    unfinished line at the end of a read is carried to the front of the next block."""
    carry = b""
    while True:
        buffer = bytearray(len(carry) + CHUNK_BYTES)
        buffer[: len(carry)] = carry
        filled = len(carry) + stream.readinto(memoryview(buffer)[len(carry) :])
        if filled == len(carry):
            break
        cut = buffer.rfind(b"\n", 0, filled) + 1
        carry = bytes(buffer[cut:filled]) if cut else bytes(buffer[:filled])
        if cut:
            yield memoryview(buffer)[:cut]
    if carry:
        yield memoryview(carry + b"\n")


def _split_lines(block: memoryview) -> pa.Array:
    """The lines of a block that ends with a newline, each with its newline, as a binary array over the block.

    One C-level search (memchr) per line: about three times faster than numpy's two passes over the whole block
    (compare, then nonzero) for lines of a few KB, and no Python object is made per line but an int."""
    if len(block) >= MAX_DOCUMENT_BYTES:
        raise SourceError(f"a line of over {MAX_DOCUMENT_BYTES} bytes; split the file into smaller objects")
    find, size = block.obj.find, len(block)
    ends = [0]
    end = find(b"\n", 0, size)
    while end >= 0:
        ends.append(end + 1)
        end = find(b"\n", end + 1, size)
    offsets = np.array(ends, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), len(ends) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)]
    )


_BLANK_BYTES = np.frombuffer(b" \t\r\n", dtype=np.uint8)


def _trim_lines(lines: pa.Array) -> pa.Array:
    """Drop the line ends (and surrounding blanks) in bulk; invalid UTF-8 lines keep their bytes for the rejects.

    Exported NDJSON is nearly always one object per line and nothing else: then cutting each line's last byte is
    all it takes (one copy, no UTF-8 decoding). Blank lines, CRLF line ends or indented lines take the general
    path, which costs ~40% more."""
    if _only_newlines_to_cut(lines):
        return pc.binary_slice(lines, 0, -1)
    try:
        return pc.cast(pc.utf8_trim_whitespace(pc.cast(lines, pa.string())), pa.binary())
    except pa.ArrowInvalid:
        return pa.array([line.strip() for line in lines.to_pylist()], pa.binary())


def _only_newlines_to_cut(lines: pa.Array) -> bool:
    """Whether every line is some non-blank text followed by exactly one newline."""
    if not len(lines):
        return True
    if lines.null_count:
        return False
    _, offsets_buffer, data_buffer = lines.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, len(lines) + 1, lines.offset * 4)
    data = np.frombuffer(data_buffer, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    if np.any(ends - starts < 2):
        return False
    return bool(
        np.all(data[ends - 1] == ord("\n"))
        and not np.isin(data[ends - 2], _BLANK_BYTES).any()
        and not np.isin(data[starts], _BLANK_BYTES).any()
    )


def _page(refs: pa.Array, type_hints: pa.Array, data: pa.Array) -> pa.Table:
    return pa.table(
        {
            "source_ref": refs,
            "type_hint": type_hints,
            "source_update_time": pa.nulls(len(refs), pa.timestamp("us", tz="UTC")),
            "data": data,
        },
        schema=SOURCE_PAGE_SCHEMA,
    )


def _unwrap(page: pa.Table) -> pa.Table:
    """Expand lists and Results records in bulk with a private in-memory DuckDB (not the warehouse)."""
    con = quiet(duckdb.connect())
    try:
        docs = pa.table({"ref": page.column("source_ref"), "doc": pc.cast(page.column("data"), pa.binary())})
        con.register("_file_docs_raw", docs)
        con.execute("CREATE TEMP TABLE _file_docs AS SELECT ref, try(decode(doc)) AS doc FROM _file_docs_raw")
        # Rows that are not UTF-8 pass through as they were, for the raw layer to reject with the right reason.
        undecodable = con.execute(
            "SELECT r.ref, r.doc FROM _file_docs_raw r JOIN _file_docs d USING (ref) WHERE d.doc IS NULL"
        ).to_arrow_table()
        unwrapped = con.execute(_UNWRAP_SQL).to_arrow_table()
    finally:
        con.close()
    result = unwrapped.cast(SOURCE_PAGE_SCHEMA)
    if undecodable.num_rows:
        broken = _page(
            undecodable.column("ref"), pa.nulls(undecodable.num_rows, pa.string()), undecodable["doc"]
        )
        result = pa.concat_tables([result, broken])
    return result


def _reject_text(data: bytes) -> str:
    return data[:MAX_REJECT_PAYLOAD_CHARS].decode("utf-8", errors="backslashreplace")
