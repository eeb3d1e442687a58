"""The committed stubs are exactly what `python -m etl.tekton_results.gen_protos` produces from our .proto files."""

from __future__ import annotations

from pathlib import Path

from etl.tekton_results import gen_protos


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    gen_protos.generate(tmp_path)
    generated = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(gen_protos.GEN_DIR): p.read_bytes()
        for p in gen_protos.GEN_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert generated.keys() == committed.keys()
    stale = sorted(str(path) for path in generated if generated[path] != committed[path])
    assert not stale, f"stale stubs, run 'make protos': {stale}"


def test_generated_imports_live_under_our_package() -> None:
    api = (gen_protos.GEN_DIR / "tekton/results/v1alpha2/api_pb2_grpc.py").read_text()
    assert "from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2" in api
    assert "\nfrom tekton." not in api and "\nimport tekton" not in api


def test_field_numbers_follow_the_wire_reference() -> None:
    from etl.tekton_results.gen.tekton.results.lister import page_token_pb2
    from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, resources_pb2

    def numbers(message: object) -> dict[str, int]:
        return {f.name: f.number for f in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]

    assert numbers(resources_pb2.Record) == {
        "name": 1, "id": 2, "uid": 7, "data": 3, "etag": 4,
        "created_time": 5, "create_time": 8, "updated_time": 6, "update_time": 9,
    }  # fmt: skip
    assert numbers(resources_pb2.Result)["summary"] == 10 and numbers(resources_pb2.Result)["uid"] == 7
    assert numbers(resources_pb2.Any) == {"type": 1, "value": 2}
    assert numbers(api_pb2.UpdateRecordRequest) == {"record": 1, "update_mask": 2, "etag": 3}
    assert numbers(api_pb2.RecordListSummaryRequest) == {
        "parent": 1, "summary": 2, "filter": 3, "group_by": 4, "order_by": 5,
    }  # fmt: skip
    assert numbers(page_token_pb2.PageToken) == {"parent": 1, "filter": 2, "last_item": 3}
    assert resources_pb2.RecordSummary.Status.Value("CANCELLED") == 4
