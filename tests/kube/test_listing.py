"""Listing Tekton runs through the official client against a real local HTTP API server."""

from __future__ import annotations

import json
from collections import Counter

import kubernetes
import pytest

from etl.errors import SourceError
from etl.kube import source as kube_source
from etl.kube.testing import FakeKubeApiServer
from etl.sources import SOURCE_PAGE_SCHEMA

from .conftest import rows, tekton_run, uids

ALL_PR_UIDS = {f"pr-uid-{i}" for i in range(7)}
ALL_TR_UIDS = {f"tr-uid-{i}" for i in range(3)}


def test_all_namespaces_lists_every_run_of_the_kind(serve, source_for):
    server = serve()
    source = source_for(server)

    assert set(uids(source.pages("PipelineRun"))) == ALL_PR_UIDS
    assert set(uids(source.pages("TaskRun"))) == ALL_TR_UIDS
    assert set(uids(source.pages())) == ALL_PR_UIDS | ALL_TR_UIDS
    cluster_paths = {r.path for r in server.requests}
    assert cluster_paths == {"/apis/tekton.dev/v1/pipelineruns", "/apis/tekton.dev/v1/taskruns"}


def test_configured_namespaces_list_only_those(serve, source_for):
    server = serve()
    source = source_for(server, namespaces=["team-a", "team-c"])

    assert set(uids(source.pages("PipelineRun"))) == {
        "pr-uid-0",
        "pr-uid-1",
        "pr-uid-3",
        "pr-uid-4",
        "pr-uid-6",
    }
    assert set(uids(source.pages("TaskRun"))) == {"tr-uid-0", "tr-uid-2"}
    assert all("/namespaces/team-" in r.path for r in server.requests)


def test_pages_follow_continue_tokens_without_doubles(serve, source_for):
    server = serve()
    source = source_for(server, page_size=2)

    pages = list(source.pages("PipelineRun"))

    assert [page.num_rows for page in pages] == [2, 2, 2, 1]
    counted = Counter(uids(iter(pages)))
    assert set(counted) == ALL_PR_UIDS and max(counted.values()) == 1
    list_requests = [r for r in server.requests if r.path.endswith("/pipelineruns")]
    assert [r.query.get("limit") for r in list_requests] == ["2"] * 4
    assert [("continue" in r.query) for r in list_requests] == [False, True, True, True]


def test_page_rows_follow_the_source_page_contract(serve, source_for):
    server = serve(items_carry_type=False)
    source = source_for(server, namespaces=["team-b"])

    pages = list(source.pages("PipelineRun"))
    assert all(page.schema == SOURCE_PAGE_SCHEMA for page in pages)
    got = rows(iter(pages))

    assert [row["source_ref"] for row in got] == [
        "/apis/tekton.dev/v1/namespaces/team-b/pipelineruns/build-2",
        "/apis/tekton.dev/v1/namespaces/team-b/pipelineruns/build-5",
    ]
    assert {row["type_hint"] for row in got} == {"tekton.dev/v1.PipelineRun"}
    assert {row["source_update_time"] for row in got} == {None}
    # The server left apiVersion/kind out of the items; the source fills them from the list.
    first = got[0]["object"]
    assert (first["apiVersion"], first["kind"]) == ("tekton.dev/v1", "PipelineRun")
    assert first["spec"] == {"pipelineRef": {"name": "build"}}
    assert first["metadata"]["resourceVersion"]


def test_item_api_version_is_kept_when_the_server_sends_it(serve, source_for):
    # An item's own apiVersion wins over the list's: the raw layer must see what the server said.
    server = serve([tekton_run("PipelineRun", "ns", "old", "u-old", version="v1beta1")])
    got = rows(source_for(server).pages("PipelineRun"))
    assert got[0]["object"]["apiVersion"] == "tekton.dev/v1beta1"
    assert got[0]["type_hint"] == "tekton.dev/v1beta1.PipelineRun"


def test_falls_back_to_v1beta1_when_v1_is_not_served(serve, source_for):
    old_runs = [tekton_run("PipelineRun", "ns", f"run-{i}", f"old-{i}", version="v1beta1") for i in range(5)]
    old_runs.append(tekton_run("TaskRun", "ns", "task", "old-task", version="v1beta1"))
    server = serve(old_runs, served_versions=("v1beta1",), items_carry_type=False)
    source = source_for(server, page_size=2)

    assert source.served_versions() == ["v1beta1"]
    got = rows(source.pages())

    assert {row["object"]["metadata"]["uid"] for row in got} == {f"old-{i}" for i in range(5)} | {"old-task"}
    assert {row["type_hint"] for row in got} == {
        "tekton.dev/v1beta1.PipelineRun",
        "tekton.dev/v1beta1.TaskRun",
    }
    assert {row["object"]["apiVersion"] for row in got} == {"tekton.dev/v1beta1"}
    assert all(row["source_ref"].startswith("/apis/tekton.dev/v1beta1/namespaces/ns/") for row in got)
    list_paths = [r.path for r in server.requests if r.path.endswith("runs")]
    # One v1 probe per kind, then every page (continue tokens included) from v1beta1.
    assert Counter(list_paths) == {
        "/apis/tekton.dev/v1/pipelineruns": 1,
        "/apis/tekton.dev/v1beta1/pipelineruns": 3,
        "/apis/tekton.dev/v1/taskruns": 1,
        "/apis/tekton.dev/v1beta1/taskruns": 1,
    }


def test_cluster_without_tekton_says_so(serve, source_for):
    server = serve([], served_versions=())
    source = source_for(server)

    assert source.served_versions() == []
    with pytest.raises(
        SourceError, match=r"serves no tekton.dev PipelineRuns/TaskRuns.*Tekton Pipelines installed"
    ):
        list(source.pages("PipelineRun"))


def test_expired_continue_token_restarts_the_list_from_the_start(serve, source_for):
    server = serve()
    server.expire_continue_tokens(after_pages=2, times=1)
    source = source_for(server, page_size=2)

    got = uids(source.pages("PipelineRun"))

    # Pages 1-2 (4 runs) came before the 410, then the whole list again: every run, the first four twice.
    assert set(got) == ALL_PR_UIDS
    assert len(got) == 4 + 7
    assert Counter(got).most_common(1)[0][1] == 2
    starts = [r for r in server.requests if r.path.endswith("/pipelineruns") and "continue" not in r.query]
    assert len(starts) == 2


def test_restarts_are_bounded(serve, source_for):
    server = serve()
    server.expire_continue_tokens(after_pages=1, times=1000)
    source = source_for(server, page_size=3)

    with pytest.raises(
        SourceError, match=r"lost its continue token 4 times \(410 Gone\).*kubernetes.page_size"
    ):
        list(source.pages("PipelineRun"))
    starts = [r for r in server.requests if "continue" not in r.query]
    assert len(starts) == kube_source.MAX_LIST_RESTARTS + 1


def test_transient_server_errors_are_retried(serve, source_for, monkeypatch):
    monkeypatch.setattr(kube_source, "TRANSIENT_BACKOFF_S", (0.05, 0.05, 0.05))
    server = serve()
    server.fail_requests(status=503, times=2)
    source = source_for(server, page_size=4)

    assert set(uids(source.pages("PipelineRun"))) == ALL_PR_UIDS


def test_persistent_server_errors_end_with_a_clear_error(serve, source_for, monkeypatch):
    monkeypatch.setattr(kube_source, "TRANSIENT_BACKOFF_S", (0.05, 0.05, 0.05))
    server = serve()
    server.fail_requests(status=503, times=10)
    source = source_for(server)

    with pytest.raises(SourceError, match=r"answered 503 while listing PipelineRuns: injected failure"):
        list(source.pages("PipelineRun"))
    assert len(server.requests) == 1 + len(kube_source.TRANSIENT_BACKOFF_S)


def test_never_touches_the_global_default_client(serve, source_for):
    server = serve()
    list(source_for(server).pages())

    assert kubernetes.client.Configuration.get_default_copy().host != server.url
    assert kubernetes.client.ApiClient._default is None


def test_large_objects_pass_through_intact(serve, source_for):
    big = tekton_run("PipelineRun", "ns", "big", "big-uid")
    big["status"]["pipelineSpec"] = {
        "tasks": [{"name": f"t{i}", "params": ["x" * 200] * 20} for i in range(300)]
    }
    big["metadata"]["annotations"] = {"note": "ünïcödé ✓"}
    server = serve([big])

    got = rows(source_for(server).pages("PipelineRun"))[0]["object"]

    assert got["status"]["pipelineSpec"] == big["status"]["pipelineSpec"]
    assert got["metadata"]["annotations"]["note"] == "ünïcödé ✓"


def test_generator_objects_load_into_the_server_and_list_back(tmp_path, source_for):
    """The fake server reads the generator's NDJSON (kubectl -o json flattened); runs come back complete."""
    lines = [tekton_run("PipelineRun", f"ns-{i % 3}", f"r-{i}", f"gen-{i}") for i in range(11)]
    lines.append(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "x", "name": "cm", "uid": "c"}}
    )
    path = tmp_path / "objects.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    server = FakeKubeApiServer(tokens=None)
    assert server.load_ndjson(path) == 11
    with server:
        source = source_for(server, token="test-token", page_size=5)
        assert set(uids(source.pages())) == {f"gen-{i}" for i in range(11)}


def test_server_started_twice_serves_once(runs):
    server = FakeKubeApiServer(runs)
    with server.start() as same:
        assert same is server
        url = server.url
        assert server.start().url == url
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url


def test_pages_follow_etcd_key_order_across_prefix_namespaces(serve, source_for):
    # As strings "team-a/x" < "team/x" < "team0/x", unlike (namespace, name) tuples; "team0" also borders "team/".
    runs = [
        tekton_run("PipelineRun", namespace, name, f"{namespace}-{name}")
        for namespace in ("team", "team-a", "team0", "tea")
        for name in ("a", "b", "c")
    ]
    server = serve(runs)

    for page_size in (1, 2, 5):
        got = uids(source_for(server, page_size=page_size).pages("PipelineRun"))
        assert sorted(got) == sorted(run["metadata"]["uid"] for run in runs)
    team_only = uids(source_for(server, page_size=2, namespaces=["team"]).pages("PipelineRun"))
    assert team_only == ["team-a", "team-b", "team-c"]
