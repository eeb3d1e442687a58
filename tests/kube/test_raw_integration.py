"""Kubernetes pages land in the real raw layer next to Tekton Results pages: one row per (cluster, uid)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from etl.config import IngestSettings
from etl.results_server.server import start_server
from etl.tekton_results.client import ResultsClient, ResultsClientConfig
from etl.warehouse.load import load_pages
from etl.warehouse.schema import connect

from .conftest import tekton_run

pytestmark = pytest.mark.slow


def succeeded(run: dict[str, Any], reason: str) -> dict[str, Any]:
    run = copy.deepcopy(run)
    run["status"]["conditions"][0]["reason"] = reason
    return run


def results_record(obj: dict[str, Any], update_time: str) -> dict[str, Any]:
    """A Tekton Results record holding `obj`, named like the watcher names them."""
    meta = obj["metadata"]
    return {
        "name": f"{meta['namespace']}/results/{meta['uid']}/records/{meta['uid']}",
        "uid": f"record-{meta['uid']}",
        "type": f"{obj['apiVersion']}.{obj['kind']}",
        "create_time": "2026-11-20T10:00:00Z",
        "update_time": update_time,
        "data": obj,
    }


def results_pages(folder: Path, records: list[dict[str, Any]]):
    folder.mkdir()
    (folder / "records.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    server = start_server(folder)
    client = ResultsClient(ResultsClientConfig(url=server.grpc_target, plaintext=True))
    return server, client


def raw_rows(con) -> dict[str, tuple[str, int | None, str]]:
    found = con.execute(
        """
        SELECT uid, source, resource_version, json_extract_string(object, '$.status.conditions[0].reason')
        FROM raw.tekton_objects WHERE cluster = 'prod' ORDER BY uid
        """
    ).fetchall()
    return {uid: (source, rv, reason) for uid, source, rv, reason in found}


def test_same_uid_from_kubernetes_and_results_is_one_row(serve, source_for, tmp_path):
    in_cluster = [tekton_run("PipelineRun", "team-a", f"run-{i}", f"uid-{i}") for i in (1, 2, 3)]
    server = serve(in_cluster)  # the cluster assigns resourceVersions 1, 2, 3
    # uid-1: Results holds an older version (rv 0, still running); uid-2: a newer one (rv 100, failed later);
    # uid-4: pruned from the cluster, only in Results.
    stale = succeeded(in_cluster[0], "Running")
    stale["metadata"]["resourceVersion"] = "0"
    newer = succeeded(in_cluster[1], "Failed")
    newer["metadata"]["resourceVersion"] = "100"
    pruned = tekton_run("PipelineRun", "team-a", "run-4", "uid-4")
    pruned["metadata"]["resourceVersion"] = "7"
    records = [
        results_record(stale, "2026-11-20T10:01:00Z"),
        results_record(newer, "2026-11-20T10:05:00Z"),
        results_record(pruned, "2026-11-20T10:02:00Z"),
    ]
    results_server, results = results_pages(tmp_path / "results", records)
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        kube_counts = load_pages(
            con, source_for(server).pages(), cluster="prod", source="kubernetes", settings=IngestSettings()
        )
        results_counts = load_pages(
            con, results.list_record_pages(), cluster="prod", source="results", settings=IngestSettings()
        )
        rows = raw_rows(con)
        stored = con.execute("SELECT count(*) FROM raw.tekton_objects").fetchone()[0]
    finally:
        con.close()
        results.close()
        results_server.stop()

    assert (kube_counts.fetched, kube_counts.loaded, kube_counts.rejected) == (3, 3, 0)
    assert (results_counts.fetched, results_counts.rejected) == (3, 0)
    assert stored == 4
    assert rows == {
        "uid-1": ("kubernetes", 1, "Succeeded"),
        "uid-2": ("results", 100, "Failed"),
        "uid-3": ("kubernetes", 3, "Succeeded"),
        "uid-4": ("results", 7, "Succeeded"),
    }


def test_objects_repeated_by_a_410_restart_load_once(serve, source_for, runs, tmp_path):
    server = serve()
    server.expire_continue_tokens(after_pages=2, times=1)
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        counts = load_pages(
            con,
            source_for(server, page_size=2).pages("PipelineRun"),
            cluster="prod",
            source="kubernetes",
            settings=IngestSettings(batch_size=3),
        )
        stored = con.execute("SELECT count(*), count(DISTINCT uid) FROM raw.tekton_objects").fetchone()
        kinds = con.execute("SELECT DISTINCT kind, api_version FROM raw.tekton_objects").fetchall()
    finally:
        con.close()

    assert (counts.fetched, counts.loaded, counts.unchanged, counts.rejected) == (11, 7, 4, 0)
    assert stored == (7, 7)
    assert kinds == [("PipelineRun", "tekton.dev/v1")]


def test_items_without_type_are_classified_by_the_raw_layer(serve, source_for, tmp_path):
    server = serve(items_carry_type=False)
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        counts = load_pages(
            con, source_for(server).pages(), cluster="prod", source="kubernetes", settings=IngestSettings()
        )
        by_kind = dict(con.execute("SELECT kind, count(*) FROM raw.tekton_objects GROUP BY kind").fetchall())
        refs = con.execute(
            "SELECT min(source_ref) FROM raw.tekton_objects WHERE kind = 'TaskRun'"
        ).fetchone()[0]
    finally:
        con.close()

    assert counts.rejected == 0
    assert by_kind == {"PipelineRun": 7, "TaskRun": 3}
    assert refs == "/apis/tekton.dev/v1/namespaces/team-a/taskruns/build-0-compile"
