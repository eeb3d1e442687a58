"""Record protobufs encoded once, when a record is written, and ListRecords answered by concatenating them.

Building a `Record` message in Python for every listed record capped the server at a few thousand records/s. So
the store keeps each record's framed protobuf bytes (`pb`, in the store's `PbLog` file): the bytes of field 1 of
`ListRecordsResponse` for that record (tag 0x0A, varint length, the serialized `Record`). A ListRecords answer is
then the page's `pb` values joined, plus field 2 (`next_page_token`): the same bytes `SerializeToString()` gives for
the message the Python path builds (tests/results_server/test_wire.py holds the two paths to byte equality).

Bulk loads compute `pb` in DuckDB SQL (`RECORD_PB_SQL`, vectorised: no per-record Python); single writes use
`record_pb(row)`, built from the same `record_proto` as every other answer. SQL varints cover values below 2**35
(lengths, epoch seconds until year 3058, nanoseconds); anything else (a timestamp before 1970) leaves `pb` NULL and
the store fills it through `record_pb`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2

from etl.tekton_results.gen.tekton.results.v1alpha2 import resources_pb2

if TYPE_CHECKING:  # store.py imports this module
    from etl.results_server.store import RecordRow

RECORDS_TAG = b"\x0a"  # ListRecordsResponse.records = 1, length-delimited
NEXT_PAGE_TOKEN_TAG = b"\x12"  # ListRecordsResponse.next_page_token = 2, length-delimited
_SQL_VARINT_BYTES = 5  # 7 bits each: values below 2**35


def timestamp_from_us(micros: int) -> timestamp_pb2.Timestamp:
    seconds, rest = divmod(micros, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=rest * 1000)


def record_proto(row: RecordRow) -> resources_pb2.Record:
    created, updated = timestamp_from_us(row.create_us), timestamp_from_us(row.update_us)
    return resources_pb2.Record(
        name=row.name,
        id=row.uid,
        uid=row.uid,
        data=resources_pb2.Any(type=row.type, value=row.data.encode()),
        etag=f"{row.uid}-{row.update_us * 1000}",
        created_time=created,
        create_time=created,
        updated_time=updated,
        update_time=updated,
    )


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def record_pb(row: RecordRow) -> bytes:
    """The `pb` column value of one record: `records` field framing + serialized Record."""
    return frame(RECORDS_TAG, record_proto(row).SerializeToString())


def list_records_response(framed_records: Iterable[bytes], next_page_token: str) -> bytes:
    """A serialized ListRecordsResponse from framed records (field 1, in order) and the token (field 2)."""
    body = b"".join(framed_records)
    if next_page_token:
        body += frame(NEXT_PAGE_TOKEN_TAG, next_page_token.encode())
    return body


def _sql_varint_hex(n: str) -> str:
    """SQL: lowercase hex of the varint of integer expression `n` (NULL when negative or >= 2**35).

    One to_hex over the bytes packed big-endian into a BIGINT: far cheaper than a printf per byte."""
    branches = []
    for k in range(1, _SQL_VARINT_BYTES + 1):
        parts = []
        for i in range(k):
            byte = f"(({n} >> {7 * i}) & 127)" if i == k - 1 else f"((({n} >> {7 * i}) & 127) | 128)"
            parts.append(f"({byte} << {8 * (k - 1 - i)})")
        branches.append(f"WHEN {n} < {1 << (7 * k)} THEN lpad(to_hex({' | '.join(parts)}), {2 * k}, '0')")
    return f"(CASE WHEN {n} < 0 THEN NULL {' '.join(branches)} ELSE NULL END)"


# Macros the encoding SQL uses; created in the server's private database.
PB_MACROS_SQL = f"""
CREATE OR REPLACE MACRO pb_varint(n) AS unhex({_sql_varint_hex("n")});
CREATE OR REPLACE MACRO pb_field(tag, b) AS unhex(tag) || pb_varint(octet_length(b)) || b;
CREATE OR REPLACE MACRO pb_ts(us) AS CASE WHEN us < 0 THEN NULL ELSE
  (CASE WHEN us >= 1000000 THEN unhex('08') || pb_varint(us // 1000000) ELSE ''::BLOB END) ||
  (CASE WHEN us % 1000000 <> 0 THEN unhex('10') || pb_varint((us % 1000000) * 1000) ELSE ''::BLOB END) END;
"""


def record_pb_select(source: str) -> str:
    """SQL: every column of `source` (parent, result_name, record_name, uid, type, data, create_time, update_time)
    plus `pb`, exactly `record_pb` of the row. Fields go in field-number order with proto3's rules (empty strings
    and zero timestamp parts omitted, sub-messages always present), as upb serializes them. Layered so that each
    piece is computed once: macros are inlined, and nesting them directly repeats their arguments."""
    return f"""
SELECT * EXCLUDE (name_b, uid_b, data_b, c_us, u_us, f1, f2, f7, any_b, f4, c_b, u_b),
  pb_field('0a', f1 || f2 || pb_field('1a', any_b) || f4 || pb_field('2a', c_b) || pb_field('32', u_b) || f7
                 || pb_field('42', c_b) || pb_field('4a', u_b)) AS pb
FROM (
  SELECT *, pb_field('0a', name_b) AS f1, pb_field('12', uid_b) AS f2, pb_field('3a', uid_b) AS f7,
    (CASE WHEN type = '' THEN ''::BLOB ELSE pb_field('0a', encode(type)) END)
      || (CASE WHEN data_b = ''::BLOB THEN ''::BLOB ELSE pb_field('12', data_b) END) AS any_b,
    pb_field('22', encode(uid || '-' || (u_us * 1000)::VARCHAR)) AS f4, pb_ts(c_us) AS c_b, pb_ts(u_us) AS u_b
  FROM (
    SELECT *, encode(parent || '/results/' || result_name || '/records/' || record_name) AS name_b,
      encode(uid) AS uid_b, encode(data::VARCHAR) AS data_b, epoch_us(create_time) AS c_us,
      epoch_us(update_time) AS u_us
    FROM ({source})))"""
