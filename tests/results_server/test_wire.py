"""The pre-encoded ListRecords answer (wire.py) against the message path it replaces: byte for byte.

`ResultsApi.list_records` builds a `ListRecordsResponse` per page in Python (REST and `fields` masks still use it);
`list_records_wire` joins the protobufs the store encoded in SQL at load time. Every page of every walk below must
serialize to the same bytes on both paths, parse to equal messages, and carry the same tokens, also across the
key cache's chunk boundaries and with writes in the middle of a walk.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from etl.results_server import wire
from etl.results_server.api import ResultsApi
from etl.results_server.server import RunningServer, start_server
from etl.results_server.store import KEY_CHUNK_ROWS, RecordRow, Store
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, api_pb2_grpc, resources_pb2

from .records import history, rfc3339, write_records

ORDERS = ["", "create_time", "create_time desc", "update_time asc", "update_time DESC"]
FILTERS = ["", 'data_type == "tekton.dev/v1.PipelineRun"', 'data.metadata.namespace == "team-b"']


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(write_records(tmp_path_factory.mktemp("wire"), history(61))) as running:
        yield running


def _walk_both(api: ResultsApi, request: api_pb2.ListRecordsRequest) -> list[api_pb2.ListRecordsResponse]:
    """Every page on both paths, asserting byte equality page by page; the pages as messages."""
    pages = []
    while True:
        fast = api.list_records_wire(request)
        slow = api.list_records(request)
        assert fast == slow.SerializeToString()
        parsed = api_pb2.ListRecordsResponse.FromString(fast)
        assert parsed == slow
        pages.append(parsed)
        if not parsed.next_page_token:
            return pages
        request = api_pb2.ListRecordsRequest(
            parent=request.parent,
            filter=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=parsed.next_page_token,
        )


@pytest.mark.parametrize("chunk_rows", [KEY_CHUNK_ROWS, 12])
@pytest.mark.parametrize("order_by", ORDERS)
def test_every_page_matches_the_message_path(server: RunningServer, order_by: str, chunk_rows: int) -> None:
    store = server.api.store
    store.key_chunk_rows = chunk_rows  # 12: a chunk covers about two pages of 5, so walks re-query mid-way
    try:
        for filter_ in FILTERS:
            for parent in ("-/results/-", "team-a/results/-"):
                request = api_pb2.ListRecordsRequest(
                    parent=parent, filter=filter_, order_by=order_by, page_size=5
                )
                pages = _walk_both(server.api, request)
                uids = [r.uid for page in pages for r in page.records]
                assert len(uids) == len(set(uids))
                assert (
                    sum(len(p.records) for p in pages)
                    == store.query(
                        "SELECT count(*) FROM records WHERE ("
                        + _sql_filter(filter_)
                        + ")"
                        + (" AND parent = 'team-a'" if parent.startswith("team-a") else "")
                    )[0][0]
                )
    finally:
        store.key_chunk_rows = KEY_CHUNK_ROWS


def _sql_filter(filter_: str) -> str:
    from etl.results_server.api import compile_filter

    return compile_filter(filter_)


def test_a_walk_with_writes_in_the_middle_stays_exact(server: RunningServer) -> None:
    """Writes bump the store's version: keys cached before them are not used after them."""
    api = server.api
    request = api_pb2.ListRecordsRequest(parent="-/results/-", order_by="update_time asc", page_size=7)
    first = api_pb2.ListRecordsResponse.FromString(api.list_records_wire(request))
    # Move a record that the next pages would list to the end of the order, and delete another one.
    later = [r for r in _walk_both(api, request)[1:] for r in r.records]
    api.update_record(
        api_pb2.UpdateRecordRequest(
            record=resources_pb2.Record(
                name=later[0].name,
                data=resources_pb2.Any(type=later[0].data.type, value=b'{"moved": true}'),
            )
        )
    )
    api.delete_record(api_pb2.DeleteRecordRequest(name=later[1].name))
    rest = _walk_both(
        api,
        api_pb2.ListRecordsRequest(
            parent=request.parent, order_by=request.order_by, page_size=7, page_token=first.next_page_token
        ),
    )
    listed = [r.name for page in rest for r in page.records]
    assert later[1].name not in listed
    assert listed[-1] == later[0].name  # newest update_time last
    assert rest[-1].records[-1].data.value == b'{"moved": true}'


def test_grpc_answers_the_same_bytes_and_fields_masks_still_apply(server: RunningServer) -> None:
    channel = grpc.insecure_channel(server.grpc_target)
    try:
        stub = api_pb2_grpc.ResultsStub(channel)
        request = api_pb2.ListRecordsRequest(parent="-/results/-", order_by="create_time", page_size=9)
        assert stub.ListRecords(request) == server.api.list_records(request)
        masked = stub.ListRecords(request, metadata=[("fields", "records.name,next_page_token")])
        assert masked.next_page_token
        assert all(r.name and not r.uid and not r.data.value for r in masked.records)
    finally:
        channel.close()


def _edge_records() -> list[dict[str, object]]:
    """Records whose encodings take every branch: empty type, whole-second and zero-nanosecond times,
    a timestamp before 1970 (SQL cannot encode it: Python fills it), the epoch itself, no uid (derived),
    non-ASCII text, and a document over 2**21 bytes (4-byte length varint)."""
    base = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    big = {"kind": "PipelineRun", "blob": "x" * (1 << 21)}
    specs = [
        ("ns/results/a/records/empty-type", "", base, base, {"kind": "TaskRun"}),
        ("ns/results/a/records/whole-second", "t", base.replace(microsecond=0), base, {"a": 1}),
        ("ns/results/a/records/epoch", "t", dt.datetime(1970, 1, 1, tzinfo=dt.UTC), base, {"a": 2}),
        (
            "ns/results/a/records/before-1970",
            "t",
            dt.datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=dt.UTC),
            base,
            {},
        ),
        ("ns/results/b/records/unicode", "tekton.dev/v1.PipelineRun", base, base, {"name": "résumé ✓ 日本"}),
        ("ns/results/b/records/big", "tekton.dev/v1.PipelineRun", base, base, big),
    ]
    out: list[dict[str, object]] = []
    for i, (name, type_, created, updated, data) in enumerate(specs):
        record: dict[str, object] = {
            "name": name,
            "type": type_,
            "create_time": rfc3339(created),
            "update_time": rfc3339(updated + dt.timedelta(seconds=i)),
            "data": data,
        }
        if i != 1:
            record["uid"] = f"uid-{i}-ü"
        out.append(record)
    return out


def test_sql_encoding_equals_the_python_encoding_on_edge_cases(tmp_path: Path) -> None:
    folder = tmp_path / "edges"
    folder.mkdir()
    (folder / "records.ndjson").write_text("".join(json.dumps(r) + "\n" for r in _edge_records()))
    store = Store()
    try:
        assert store.load(folder / "records.ndjson") == 6
        rows = store.query(
            "SELECT pb_offset, pb_length, parent, result_name, record_name, uid, type, data, "
            "epoch_us(create_time), epoch_us(update_time) FROM records"
        )
        stored = store.pb_log.read([(offset, length) for offset, length, *_ in rows])
        for pb, (_, _, *fields) in zip(stored, rows, strict=True):
            row = RecordRow(*fields)
            assert bytes(pb) == wire.record_pb(row), row.name
        by_name = {RecordRow(*f).record_name: RecordRow(*f) for _, _, *f in rows}
        assert by_name["before-1970"].create_us < 0
        assert by_name["whole-second"].uid  # derived from the name, stable
        assert by_name["empty-type"].type == ""
    finally:
        store.close()


def test_list_records_response_framing() -> None:
    records = [
        resources_pb2.Record(name="a/results/b/records/c", uid="u1"),
        resources_pb2.Record(name="a/results/b/records/d", data=resources_pb2.Any(value=b"x" * 300)),
    ]
    framed = [wire.frame(wire.RECORDS_TAG, r.SerializeToString()) for r in records]
    for token in ("", "next-page"):
        expected = api_pb2.ListRecordsResponse(records=records, next_page_token=token).SerializeToString()
        assert wire.list_records_response(framed, token) == expected
    assert (
        wire.varint(0) == b"\x00"
        and wire.varint(300) == b"\xac\x02"
        and wire.varint(1 << 35) == b"\x80\x80\x80\x80\x80\x01"
    )


def test_direct_grpc_port_serves_the_same_api_with_auth_and_tls(tmp_path: Path) -> None:
    from etl.results_server.server import TlsFiles

    from .records import make_pki

    data = write_records(tmp_path / "history", history(23))
    request = api_pb2.ListRecordsRequest(parent="-/results/-", order_by="update_time asc", page_size=10)
    token = [("authorization", "Bearer s3cret")]
    with start_server(data, token="s3cret", grpc_port=0) as running:
        assert running.direct_grpc_port and running.direct_grpc_port != running.port
        channel = grpc.insecure_channel(f"127.0.0.1:{running.direct_grpc_port}")
        stub = api_pb2_grpc.ResultsStub(channel)
        assert stub.ListRecords(request, metadata=token) == running.api.list_records(request)
        with pytest.raises(grpc.RpcError) as denied:
            stub.ListRecords(request)
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        channel.close()
    pki = make_pki(tmp_path / "pki")
    with start_server(data, tls=TlsFiles(pki.server_cert, pki.server_key), grpc_port=0) as secure:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
        channel = grpc.secure_channel(f"localhost:{secure.direct_grpc_port}", credentials)
        assert len(api_pb2_grpc.ResultsStub(channel).ListRecords(request).records) == 10
        channel.close()
        plain = grpc.insecure_channel(f"127.0.0.1:{secure.direct_grpc_port}")
        with pytest.raises(grpc.RpcError):
            api_pb2_grpc.ResultsStub(plain).ListRecords(request, timeout=5)
        plain.close()
