"""The local Results server over real loopback sockets: raw gRPC stubs and raw HTTP, no client of ours."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from etl.results_server.api import Faults
from etl.results_server.server import RunningServer, start_server
from etl.results_server.store import DataLoadError
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, api_pb2_grpc, resources_pb2

from .records import expected_buckets, make_record, write_records

API = "/apis/results.tekton.dev/v1alpha2/parents"
Stub = api_pb2_grpc.ResultsStub


def list_all(stub: Stub, **request: Any) -> list[resources_pb2.Record]:
    records, token = [], ""
    while True:
        response = stub.ListRecords(api_pb2.ListRecordsRequest(page_token=token, **request))
        records += response.records
        token = response.next_page_token
        if not token:
            return records


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_loads_every_record(server: RunningServer, records: list[dict[str, Any]]) -> None:
    assert server.records_loaded == len(records)


@pytest.mark.parametrize(
    ("order_by", "key", "reverse"),
    [
        ("", lambda r: r["uid"], False),
        ("create_time", lambda r: (r["create_time"], r["uid"]), False),
        ("update_time asc", lambda r: (r["update_time"], r["uid"]), False),
        ("update_time desc", lambda r: (r["update_time"], r["uid"]), True),
        ("create_time DESC", lambda r: (r["create_time"], r["uid"]), True),
    ],
)
def test_keyset_pages_visit_every_record_once_in_order(
    stub: Stub, records: list[dict[str, Any]], order_by: str, key: Any, reverse: bool
) -> None:
    listed = list_all(stub, parent="-/results/-", order_by=order_by, page_size=10)
    expected = [r["uid"] for r in sorted(records, key=key, reverse=reverse)]
    assert [r.uid for r in listed] == expected


def test_records_carry_the_stored_object_and_output_fields(stub: Stub, records: list[dict[str, Any]]) -> None:
    source = records[7]
    record = stub.GetRecord(api_pb2.GetRecordRequest(name=source["name"]))
    assert json.loads(record.data.value) == source["data"]
    assert record.data.type == source["type"]
    assert record.uid == record.id == source["uid"]
    assert record.create_time == record.created_time
    assert record.update_time.ToJsonString() == source["update_time"]
    assert record.etag == f"{source['uid']}-{record.update_time.ToNanoseconds()}"


def test_parent_wildcards_and_namespaces(stub: Stub, records: list[dict[str, Any]]) -> None:
    in_team_b = {r["uid"] for r in records if r["name"].startswith("team-b/")}
    assert {r.uid for r in list_all(stub, parent="team-b/results/-", page_size=100)} == in_team_b
    one = records[4]
    result_name = one["name"].split("/")[2]
    listed = list_all(stub, parent=f"-/results/{result_name}")
    assert [r.uid for r in listed] == [one["uid"]]


def test_page_size_rules(stub: Stub) -> None:
    assert len(stub.ListRecords(api_pb2.ListRecordsRequest(parent="-/results/-")).records) == 50
    assert len(stub.ListRecords(api_pb2.ListRecordsRequest(parent="-/results/-", page_size=5)).records) == 5
    assert (
        len(stub.ListRecords(api_pb2.ListRecordsRequest(parent="-/results/-", page_size=10000)).records) > 50
    )
    for size in (3, 10001, -1):
        error = rpc_error(stub.ListRecords, api_pb2.ListRecordsRequest(parent="-/results/-", page_size=size))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (
            error.details() == f"invalid page size ({size}): value must be greater than 5 and less than 10000"
        )


def test_page_tokens_are_bound_to_the_query(stub: Stub) -> None:
    query = {"parent": "-/results/-", "filter": "data_type == PIPELINE_RUN", "order_by": "create_time desc"}
    token = stub.ListRecords(api_pb2.ListRecordsRequest(page_size=5, **query)).next_page_token
    assert token
    # Same query, other page size and surrounding blanks in the filter: allowed.
    same = {**query, "filter": f"  {query['filter']} "}
    assert stub.ListRecords(api_pb2.ListRecordsRequest(page_size=7, page_token=token, **same)).records
    for changed in (
        {"parent": "team-a/results/-"},
        {"filter": "data_type == TASK_RUN"},
        {"order_by": "create_time"},
    ):
        request = api_pb2.ListRecordsRequest(page_size=5, page_token=token, **{**query, **changed})
        error = rpc_error(stub.ListRecords, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("invalid page token")
    garbage = rpc_error(stub.ListRecords, api_pb2.ListRecordsRequest(page_token="not-a-token!", **query))
    assert garbage.details().startswith("invalid page token")


@pytest.mark.parametrize(
    "order_by", ["name", "create_time sideways", "create_time desc, update_time asc", "uid"]
)
def test_bad_order_by_is_rejected(stub: Stub, order_by: str) -> None:
    error = rpc_error(stub.ListRecords, api_pb2.ListRecordsRequest(parent="-/results/-", order_by=order_by))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "<create_time|update_time> [asc|desc]" in error.details()


def test_filters_run_in_the_database(stub: Stub, records: list[dict[str, Any]]) -> None:
    cel = 'data_type == PIPELINE_RUN && data.metadata.labels["app"] == "bank"'
    expected = {
        r["uid"]
        for r in records
        if r["type"] == "tekton.dev/v1.PipelineRun" and r["data"]["metadata"]["labels"]["app"] == "bank"
    }
    assert expected
    assert {r.uid for r in list_all(stub, parent="-/results/-", filter=cel, page_size=7)} == expected
    error = rpc_error(
        stub.ListRecords, api_pb2.ListRecordsRequest(parent="-/results/-", filter="size(data) > 0")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "size()" in error.details()


@pytest.mark.parametrize(
    "name",
    [
        "Team-A/results/x/records/y",
        "team-a/results/x/records/y/z",
        "team-a/records/y",
        "a/results/b/records/",
    ],
)
def test_bad_record_names_are_rejected(stub: Stub, name: str) -> None:
    error = rpc_error(stub.GetRecord, api_pb2.GetRecordRequest(name=name))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("name must match")


def test_get_takes_no_wildcards(stub: Stub, records: list[dict[str, Any]]) -> None:
    _, _, result, _, record = records[0]["name"].split("/")
    error = rpc_error(stub.GetRecord, api_pb2.GetRecordRequest(name=f"-/results/{result}/records/{record}"))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # "-" is a literal name here, not "any"


def test_bad_list_parent_is_rejected(stub: Stub) -> None:
    error = rpc_error(stub.ListRecords, api_pb2.ListRecordsRequest(parent="UPPER/results/-"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_create_update_delete_lifecycle(stub: Stub) -> None:
    result = stub.CreateResult(
        api_pb2.CreateResultRequest(parent="team-z", result=resources_pb2.Result(name="team-z/results/run-1"))
    )
    assert result.uid and result.etag.startswith(result.uid + "-")
    duplicate = rpc_error(
        stub.CreateResult,
        api_pb2.CreateResultRequest(
            parent="team-z", result=resources_pb2.Result(name="team-z/results/run-1")
        ),
    )
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    mismatch = rpc_error(
        stub.CreateResult,
        api_pb2.CreateResultRequest(parent="other", result=resources_pb2.Result(name="team-z/results/run-2")),
    )
    assert mismatch.details() == "requested parent does not match resource name"

    name = "team-z/results/run-1/records/rec-1"
    body = resources_pb2.Any(type="tekton.dev/v1.PipelineRun", value=b'{"status": {"phase": 1}}')
    created = stub.CreateRecord(
        api_pb2.CreateRecordRequest(
            parent="team-z/results/run-1", record=resources_pb2.Record(name=name, data=body)
        )
    )
    assert json.loads(created.data.value) == {"status": {"phase": 1}}
    listed = list_all(stub, parent="team-z/results/-")
    assert [r.name for r in listed] == [name]

    updated = stub.UpdateRecord(
        api_pb2.UpdateRecordRequest(
            record=resources_pb2.Record(name=name, data=resources_pb2.Any(value=b'{"status": {"phase": 2}}')),
            etag=created.etag,
        )
    )
    assert updated.data.type == "tekton.dev/v1.PipelineRun"  # merged: an empty type keeps the stored one
    assert json.loads(updated.data.value) == {"status": {"phase": 2}}
    assert updated.update_time.ToNanoseconds() > created.update_time.ToNanoseconds()
    assert updated.etag != created.etag
    stale = rpc_error(
        stub.UpdateRecord,
        api_pb2.UpdateRecordRequest(record=resources_pb2.Record(name=name), etag=created.etag),
    )
    assert (stale.code(), stale.details()) == (grpc.StatusCode.FAILED_PRECONDITION, "the etag mismatches")
    newer = list_all(
        stub,
        parent="-/results/-",
        filter=f'update_time > timestamp("{created.update_time.ToJsonString()}")',
    )
    assert [r.name for r in newer] == [name]

    stub.DeleteRecord(api_pb2.DeleteRecordRequest(name=name))
    gone = rpc_error(stub.GetRecord, api_pb2.GetRecordRequest(name=name))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    again = rpc_error(stub.DeleteRecord, api_pb2.DeleteRecordRequest(name=name))
    assert again.code() == grpc.StatusCode.NOT_FOUND
    stub.DeleteResult(api_pb2.DeleteResultRequest(name="team-z/results/run-1"))
    assert rpc_error(stub.GetResult, api_pb2.GetResultRequest(name="team-z/results/run-1")).code() == (
        grpc.StatusCode.NOT_FOUND
    )


def test_summary_groups_written_records_by_their_objects_namespace(stub: Stub) -> None:
    """The namespace the Summary groups by is the object's metadata.namespace, kept current by every write."""
    stub.CreateResult(
        api_pb2.CreateResultRequest(parent="team-y", result=resources_pb2.Result(name="team-y/results/run-9"))
    )
    name = "team-y/results/run-9/records/rec-9"

    def namespaces() -> dict[str, int]:
        request = api_pb2.RecordListSummaryRequest(
            parent="team-y/results/-", summary="total", group_by="namespace"
        )
        return {
            s.fields["group_value"].string_value: int(s.fields["total"].number_value)
            for s in stub.GetRecordListSummary(request).summary
        }

    body = b'{"metadata": {"namespace": "team-y"}}'
    created = stub.CreateRecord(
        api_pb2.CreateRecordRequest(
            parent="team-y/results/run-9",
            record=resources_pb2.Record(
                name=name, data=resources_pb2.Any(type="tekton.dev/v1.TaskRun", value=body)
            ),
        )
    )
    assert namespaces() == {"team-y": 1}
    stub.UpdateRecord(
        api_pb2.UpdateRecordRequest(
            record=resources_pb2.Record(name=name, data=resources_pb2.Any(value=b'{"metadata": {}}')),
            etag=created.etag,
        )
    )
    assert namespaces() == {"": 1}
    stub.DeleteRecord(api_pb2.DeleteRecordRequest(name=name))  # the server is shared by this module's tests
    stub.DeleteResult(api_pb2.DeleteResultRequest(name="team-y/results/run-9"))


def test_create_record_checks_parent_result_and_json(stub: Stub) -> None:
    def create(parent: str, name: str, value: bytes) -> grpc.RpcError:
        record = resources_pb2.Record(name=name, data=resources_pb2.Any(type="x", value=value))
        return rpc_error(stub.CreateRecord, api_pb2.CreateRecordRequest(parent=parent, record=record))

    assert create("nope/results/r", "nope/results/r/records/a", b"{}").code() == grpc.StatusCode.NOT_FOUND
    assert create("a/results/b", "a/results/c/records/d", b"{}").code() == grpc.StatusCode.INVALID_ARGUMENT
    stub.CreateResult(
        api_pb2.CreateResultRequest(parent="jsonns", result=resources_pb2.Result(name="jsonns/results/r"))
    )
    bad_json = create("jsonns/results/r", "jsonns/results/r/records/a", b"{not json")
    assert bad_json.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_result_listing_and_update(stub: Stub, records: list[dict[str, Any]]) -> None:
    results, token = [], ""
    while True:
        page = stub.ListResults(api_pb2.ListResultsRequest(parent="team-a", page_size=9, page_token=token))
        results += page.results
        token = page.next_page_token
        if not token:
            break
    assert len(results) == sum(r["name"].startswith("team-a/") for r in records)
    first = results[0]
    updated = stub.UpdateResult(
        api_pb2.UpdateResultRequest(
            name=first.name, result=resources_pb2.Result(annotations={"repo": "shop"}), etag=first.etag
        )
    )
    assert dict(updated.annotations) == {"repo": "shop"}
    assert dict(stub.GetResult(api_pb2.GetResultRequest(name=first.name)).annotations) == {"repo": "shop"}


def test_summary_buckets_match_the_real_rules(stub: Stub, records: list[dict[str, Any]]) -> None:
    request = api_pb2.RecordListSummaryRequest(
        parent="-/results/-", summary="total,succeeded,failed,cancelled,running,others", group_by="namespace"
    )
    got = {
        s.fields["group_value"].string_value: {
            k: int(v.number_value) for k, v in s.fields.items() if k != "group_value"
        }
        for s in stub.GetRecordListSummary(request).summary
    }
    # TaskRunCancelled and timeouts land in "others"; a run without a condition is in no bucket but "total".
    expected = expected_buckets(records)
    assert got == {
        ns: {k: c[k] for k in ("total", "succeeded", "failed", "cancelled", "running", "others")}
        for ns, c in expected.items()
    }


def test_summary_durations_groups_and_order(stub: Stub, records: list[dict[str, Any]]) -> None:
    request = api_pb2.RecordListSummaryRequest(
        parent="team-a/results/-",
        summary="total,max_duration,min_duration",
        group_by="pipeline",
        order_by="total DESC",
        filter="data_type == PIPELINE_RUN",
    )
    rows = [
        {k: (v.string_value or v.number_value) for k, v in s.fields.items()}
        for s in stub.GetRecordListSummary(request).summary
    ]
    chosen = [
        r for r in records if r["name"].startswith("team-a/") and r["type"] == "tekton.dev/v1.PipelineRun"
    ]
    per_pipeline = Counter(f"team-a/{r['data']['metadata']['labels']['tekton.dev/pipeline']}" for r in chosen)
    assert {r["group_value"]: r["total"] for r in rows} == per_pipeline
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)
    durations = [10 + int(r["data"]["metadata"]["name"].split("-")[1]) % 7 for r in chosen]
    assert max(r["max_duration"] for r in rows) == f"00:00:{max(durations):02d}"
    by_day = stub.GetRecordListSummary(
        api_pb2.RecordListSummaryRequest(parent="-/results/-", summary="total", group_by="day")
    ).summary
    assert sum(s.fields["total"].number_value for s in by_day) == len(records)
    assert all(s.fields["group_value"].number_value % 86400 == 0 for s in by_day)


@pytest.mark.parametrize(
    ("summary", "group_by", "order_by", "message"),
    [
        ("", "", "", "invalid aggregate query: "),
        ("total,bogus", "", "", "invalid aggregate query: bogus"),
        ("total", "colour", "", "invalid group_by"),
        ("total", "namespace", "failed DESC", "invalid order_by"),
    ],
)
def test_summary_rejects_bad_requests(
    stub: Stub, summary: str, group_by: str, order_by: str, message: str
) -> None:
    request = api_pb2.RecordListSummaryRequest(
        parent="-/results/-", summary=summary, group_by=group_by, order_by=order_by
    )
    error = rpc_error(stub.GetRecordListSummary, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(message)


def test_fields_metadata_trims_responses(stub: Stub, records: list[dict[str, Any]]) -> None:
    request = api_pb2.ListRecordsRequest(parent="-/results/-", page_size=5, order_by="create_time")
    fields = "records.name,records.data.value.metadata.name,next_page_token"
    response = stub.ListRecords(request, metadata=[("fields", fields)])
    assert response.next_page_token
    first = response.records[0]
    assert first.name == records[0]["name"] and not first.uid and not first.data.type
    assert json.loads(first.data.value) == {"metadata": {"name": "build-0"}}


def test_health_reflection_and_no_logs_service(server: RunningServer, stub: Stub) -> None:
    channel = grpc.insecure_channel(server.grpc_target)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "tekton.results.v1alpha2.Results"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(
        iter(
            reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
    )
    names = {s.name for s in answer.list_services_response.service}
    assert "tekton.results.v1alpha2.Results" in names
    logs = api_pb2_grpc.LogsStub(channel)
    error = rpc_error(lambda: list(logs.GetLog(api_pb2.GetLogRequest(name="a/results/b/logs/c"))))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()
    assert requests.get(f"{server.rest_url}/healthz", timeout=10).json() == {"status": "SERVING"}


# -- REST ------------------------------------------------------------------------------------------------------------


def test_rest_json_uses_proto_names_and_omits_empty_fields(
    server: RunningServer, records: list[dict[str, Any]]
) -> None:
    url = f"{server.rest_url}{API}/-/results/-/records"
    first = requests.get(url, params={"page_size": 100, "order_by": "create_time"}, timeout=10).json()
    assert set(first) == {"records", "next_page_token"}
    record = first["records"][0]
    assert {"create_time", "update_time", "created_time", "uid"} <= set(record)
    assert json.loads(base64.b64decode(record["data"]["value"])) == records[0]["data"]
    # camelCase query parameters are accepted too, like grpc-gateway.
    last = requests.get(
        url,
        params={"pageSize": 100, "orderBy": "create_time", "pageToken": first["next_page_token"]},
        timeout=10,
    ).json()
    assert "next_page_token" not in last
    assert len(first["records"]) + len(last["records"]) == len(records)


def test_rest_errors_have_code_message_and_http_status(server: RunningServer) -> None:
    response = requests.get(
        f"{server.rest_url}{API}/-/results/-/records", params={"page_size": 3}, timeout=10
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 3,
        "message": "invalid page size (3): value must be greater than 5 and less than 10000",
    }
    missing = requests.get(f"{server.rest_url}{API}/a/results/b/records/c", timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (404, 5)
    assert requests.get(f"{server.rest_url}/apis/nothing/here", timeout=10).status_code == 404
    logs = requests.get(f"{server.rest_url}{API}/a/results/b/logs/c", timeout=10)
    assert logs.status_code == 404  # the Logs API is off by default, like the real server


def test_rest_summary_and_crud(server: RunningServer) -> None:
    base = f"{server.rest_url}{API}"
    summary = requests.get(
        f"{base}/-/results/-/records/summary",
        params={"summary": "total", "group_by": "namespace"},
        timeout=10,
    ).json()
    assert {row["group_value"] for row in summary["summary"]} == {"team-a", "team-b", "team-c"}
    created = requests.post(f"{base}/rest-ns/results", json={"name": "rest-ns/results/r1"}, timeout=10)
    assert created.status_code == 200 and created.json()["name"] == "rest-ns/results/r1"
    value = base64.b64encode(b'{"a": 1}').decode()
    record = requests.post(
        f"{base}/rest-ns/results/r1/records",
        json={"name": "rest-ns/results/r1/records/x", "data": {"type": "t", "value": value}},
        timeout=10,
    ).json()
    patched = requests.patch(
        f"{base}/rest-ns/results/r1/records/x",
        json={"data": {"value": base64.b64encode(b'{"a": 2}').decode()}, "etag": record["etag"]},
        timeout=10,
    )
    assert patched.status_code == 200
    assert json.loads(base64.b64decode(patched.json()["data"]["value"])) == {"a": 2}
    conflict = requests.patch(
        f"{base}/rest-ns/results/r1/records/x", json={"etag": record["etag"]}, timeout=10
    )
    assert conflict.status_code == 400 and conflict.json()["message"] == "the etag mismatches"
    assert requests.delete(f"{base}/rest-ns/results/r1/records/x", timeout=10).json() == {}


def test_legacy_camelcase_mode(data_dir: Path) -> None:
    with start_server(data_dir, legacy_camelcase=True) as legacy:
        url = f"{legacy.rest_url}{API}/-/results/-/records"
        page = requests.get(url, params={"page_size": 1000}, timeout=10).json()
        assert page["nextPageToken"] == ""  # emitted even when empty, like releases before v0.15
        assert {"createTime", "updateTime", "createdTime"} <= set(page["records"][0])
        error = requests.get(url, params={"page_size": 3}, timeout=10).json()
        assert error["details"] == [] and error["code"] == 3


# -- auth, faults, TLS, loading, CLI -------------------------------------------------------------------------------


def test_auth_is_required_when_a_token_is_set(data_dir: Path) -> None:
    with start_server(data_dir, token="s3cret") as secured:
        channel = grpc.insecure_channel(secured.grpc_target)
        stub = api_pb2_grpc.ResultsStub(channel)
        request = api_pb2.ListRecordsRequest(parent="-/results/-")
        missing = rpc_error(stub.ListRecords, request)
        assert (missing.code(), missing.details()) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "unable to find token",
        )
        wrong = rpc_error(stub.ListRecords, request, metadata=[("authorization", "Bearer nope")])
        assert (wrong.code(), wrong.details()) == (grpc.StatusCode.UNAUTHENTICATED, "permission denied")
        # Any one of several authorization values may pass, like the real server.
        both = [("authorization", "Bearer nope"), ("authorization", "Bearer s3cret")]
        assert stub.ListRecords(request, metadata=both).records
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # health needs no token
        channel.close()
        url = f"{secured.rest_url}{API}/-/results/-/records"
        denied = requests.get(url, timeout=10)
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer")
        assert denied.json()["code"] == 16
        assert requests.get(url, headers={"Authorization": "Bearer s3cret"}, timeout=10).status_code == 200


def test_injected_failures_are_deterministic(data_dir: Path) -> None:
    def failures(seed: int) -> list[bool]:
        with start_server(data_dir, faults=Faults(fail_rate=0.5, seed=seed)) as faulty:
            channel = grpc.insecure_channel(faulty.grpc_target)
            stub = api_pb2_grpc.ResultsStub(channel)
            outcome = []
            for _ in range(12):
                try:
                    stub.ListRecords(api_pb2.ListRecordsRequest(parent="-/results/-", page_size=5))
                    outcome.append(False)
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE
                    outcome.append(True)
            channel.close()
            return outcome

    first = failures(7)
    assert first == failures(7)
    assert 0 < sum(first) < len(first)


def test_connection_cut_mid_listing(data_dir: Path) -> None:
    with start_server(data_dir, faults=Faults(cut_after_records=20)) as cutting:
        channel = grpc.insecure_channel(cutting.grpc_target)
        stub = api_pb2_grpc.ResultsStub(channel)
        request = api_pb2.ListRecordsRequest(parent="-/results/-", page_size=10, order_by="create_time")
        page1 = stub.ListRecords(request)
        page2 = stub.ListRecords(
            api_pb2.ListRecordsRequest(page_token=page1.next_page_token, **_query(request))
        )
        cut = rpc_error(
            stub.ListRecords, api_pb2.ListRecordsRequest(page_token=page2.next_page_token, **_query(request))
        )
        assert cut.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
        rest = requests.Session()
        url = f"{cutting.rest_url}{API}/-/results/-/records"
        for _ in range(2):
            assert len(rest.get(url, params={"page_size": 10}, timeout=10).json()["records"]) == 10
        with pytest.raises(requests.ConnectionError):
            rest.get(url, params={"page_size": 10}, timeout=10)
        assert cutting.api.faults.cuts == 2


def _query(request: api_pb2.ListRecordsRequest) -> dict[str, Any]:
    return {"parent": request.parent, "page_size": request.page_size, "order_by": request.order_by}


def test_tls_with_a_ca_signed_certificate(data_dir: Path, tmp_path: Path) -> None:
    from etl.results_server.server import TlsFiles

    from .records import make_pki

    pki = make_pki(tmp_path / "pki")
    with start_server(data_dir, tls=TlsFiles(pki.server_cert, pki.server_key)) as secure:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
        channel = grpc.secure_channel(f"localhost:{secure.port}", credentials)
        page = api_pb2_grpc.ResultsStub(channel).ListRecords(api_pb2.ListRecordsRequest(parent="-/results/-"))
        assert len(page.records) == 50
        channel.close()
        assert secure.rest_url.startswith("https://")
        health = requests.get(f"{secure.rest_url}/healthz", verify=str(pki.ca_cert), timeout=10)
        assert health.json() == {"status": "SERVING"}
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{secure.rest_url}/healthz", verify=str(pki.other_ca_cert), timeout=10)


def test_bad_data_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="does not exist"):
        start_server(tmp_path / "missing")
    bad = make_record(1)
    bad["name"] = "Bad/Name"
    write_records(tmp_path / "bad", [make_record(0), bad])
    with pytest.raises(DataLoadError, match="'Bad/Name' has a bad name"):
        start_server(tmp_path / "bad")


def test_serve_results_command(data_dir: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    command = [
        sys.executable,
        "-m",
        "etl.cli",
        "serve-results",
        "--data",
        str(data_dir),
        "--token-file",
        str(token_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        port = int(lines[1].split()[1])
        url = f"http://127.0.0.1:{port}{API}/-/results/-/records"
        assert (
            requests.get(url, headers={"Authorization": "Bearer file-token"}, timeout=10).status_code == 200
        )
        token_file.write_text("rotated")
        assert (
            requests.get(url, headers={"Authorization": "Bearer file-token"}, timeout=10).status_code == 401
        )
        assert requests.get(url, headers={"Authorization": "Bearer rotated"}, timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0
