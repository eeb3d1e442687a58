"""The store's protobuf file (`PbLog`) and the batched load that fills it, on real files and a real DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from etl.results_server import store as store_module
from etl.results_server import wire
from etl.results_server.store import PbLog, RecordRow, Store

from .records import history, write_records


@pytest.fixture
def log(tmp_path: Path) -> Iterator[PbLog]:
    pb_log = PbLog(tmp_path / "records.pb")
    yield pb_log
    pb_log.close()


def test_appends_never_move_earlier_bytes(log: PbLog) -> None:
    first = log.append(b"alpha")
    second = log.append(memoryview(b"beta"))
    third = log.append(pa.py_buffer(b"gamma"))
    assert (first, second, third) == (0, 5, 9)
    assert [bytes(b) for b in log.read([(second, 4), (first, 5), (third, 5)])] == [
        b"beta",
        b"alpha",
        b"gamma",
    ]


def test_append_array_writes_a_sliced_array_and_gives_each_value_its_span(log: PbLog) -> None:
    log.append(b"0123456789")
    values = pa.array([b"skip", b"a", b"", b"bcd", b"\x00\xff" * 3000, b"tail"], pa.binary()).slice(1, 4)
    offsets, lengths = log.append_array(values)
    assert lengths.to_pylist() == [1, 0, 3, 6000]
    assert offsets.to_pylist() == [10, 11, 11, 14]
    spans = list(zip(offsets.to_pylist(), lengths.to_pylist(), strict=True))
    assert [bytes(b) for b in log.read(spans)] == values.to_pylist()
    assert bytes(log.read([(20_014, 0)])[0]) == b""  # an empty span past the end reads nothing
    large_offsets, large_lengths = log.append_array(pa.array([b"x", b"yz"], pa.large_binary()).slice(1))
    assert bytes(log.read([(large_offsets[0].as_py(), large_lengths[0].as_py())])[0]) == b"yz"


def test_reads_far_apart_spans_separately_and_in_the_order_asked(log: PbLog) -> None:
    gap = store_module.READ_GAP_BYTES
    blobs = [bytes([i]) * (i + 1) + b"-" * (gap * (i % 3)) for i in range(12)]
    offsets = [log.append(blob) for blob in blobs]
    wanted = [(offsets[i], i + 1) for i in (11, 3, 0, 7, 4, 5, 10)]
    assert [bytes(b) for b in log.read(wanted)] == [bytes([i]) * (i + 1) for i in (11, 3, 0, 7, 4, 5, 10)]


def test_a_truncated_file_is_an_error_not_short_bytes(log: PbLog) -> None:
    log.append(b"abc")
    with pytest.raises(OSError, match="truncated"):
        log.read([(1, 10)])


def _stored_pbs(store: Store) -> dict[str, tuple[bytes, RecordRow]]:
    rows = store.query(
        "SELECT pb_offset, pb_length, parent, result_name, record_name, uid, type, data, "
        "epoch_us(create_time), epoch_us(update_time) FROM records"
    )
    pbs = store.pb_log.read([(offset, length) for offset, length, *_ in rows])
    return {
        RecordRow(*fields).name: (bytes(pb), RecordRow(*fields))
        for pb, (_, _, *fields) in zip(pbs, rows, strict=True)
    }


def test_a_load_in_many_small_batches_stores_every_record_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = history(47)
    records[20]["create_time"] = (
        "1969-12-31T23:59:59.5Z"  # SQL cannot encode it: Python fills it in its batch
    )
    monkeypatch.setattr(store_module, "LOAD_BATCH_ROWS", 8)
    store = Store()
    try:
        assert store.load(write_records(tmp_path, records) / "records.ndjson") == 47
        stored = _stored_pbs(store)
        assert sorted(stored) == sorted(r["name"] for r in records)
        for pb, row in stored.values():
            assert pb == wire.record_pb(row), row.name
        assert stored[records[20]["name"]][1].create_us == -500_000
        assert json.loads(stored[records[3]["name"]][1].data) == records[3]["data"]
    finally:
        store.close()


def test_a_bad_record_anywhere_stops_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = history(30)
    records[25]["name"] = "team-a/results/UPPER/records/x"
    monkeypatch.setattr(store_module, "LOAD_BATCH_ROWS", 8)
    store = Store()
    try:
        with pytest.raises(store_module.DataLoadError, match="UPPER/records/x' has a bad name"):
            store.load(write_records(tmp_path, records) / "records.ndjson")
    finally:
        store.close()


def test_read_joined_is_one_read_for_consecutive_spans_and_exact_for_any_others(log: PbLog) -> None:
    offsets = [log.append(bytes([65 + i]) * (i + 1)) for i in range(6)]
    lengths = [i + 1 for i in range(6)]
    assert log.read_joined(offsets, lengths) == b"ABBCCCDDDDEEEEEFFFFFF"
    assert log.read_joined(offsets[2:4], lengths[2:4]) == b"CCCDDDD"
    out_of_file_order = log.read_joined([offsets[3], offsets[1]], [lengths[3], lengths[1]])
    assert out_of_file_order == b"DDDDBB"
    assert log.read_joined([offsets[0], offsets[2]], [lengths[0], lengths[2]]) == b"ACCC"  # a gap between
    assert log.read_joined([], []) == b""


def test_the_loaded_file_is_in_the_ingests_walk_order(tmp_path: Path) -> None:
    """Each kind by update time is one run of the file, so an ingest page is one pread."""
    store = Store()
    try:
        store.load(write_records(tmp_path, history(40)) / "records.ndjson")
        rows = store.query(
            f"SELECT regexp_extract(type, '[^.]*$'), pb_offset, pb_length FROM records "
            f"ORDER BY {store_module.PB_FILE_ORDER}"
        )
        expected_offset = 0
        for _, offset, length in rows:
            assert offset == expected_offset
            expected_offset += length
        assert [kind for kind, *_ in rows] == sorted(kind for kind, *_ in rows)
        assert store.pb_log.path.stat().st_size == expected_offset
    finally:
        store.close()


def test_an_empty_store_lists_and_takes_writes(tmp_path: Path) -> None:
    store = Store()
    try:
        assert store.load(None) == 0
        page = store_module.Page("update_time", False, None, None, 10)
        keys, body = store.list_record_pbs("-", "-", "TRUE", page, 9)
        assert (len(keys), body) == (0, b"")
        store.insert_result("ns", "r", None, None)
        row = store.insert_record("ns", "r", "one", "tekton.dev/v1.TaskRun", '{"kind": "TaskRun"}')
        keys, body = store.list_record_pbs("-", "-", "TRUE", page, 9)
        assert len(keys) == 1 and body == wire.record_pb(row)
    finally:
        store.close()
