"""Incremental ingest against the real local Tekton Results server (gRPC and REST over loopback) and the fake
Kubernetes API server, into real warehouse files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.cli import main
from etl.config import (
    ClusterConfig,
    IngestSettings,
    KubernetesSource,
    ResultsSource,
    SourcesConfig,
    WarehousePaths,
)
from etl.errors import WarehouseBusyError
from etl.kube.testing import FakeKubeApiServer, Identity, write_kubeconfig
from etl.locking import writer_lock
from etl.results_server.server import RunningServer, start_server
from etl.tekton_results.client import ResultsClient, ResultsClientConfig
from etl.warehouse.ingest import IngestReport, SourceRun, ingest

from .objects import tekton_object

BASE = datetime(2024, 5, 1, tzinfo=UTC)
KUBE_TOKEN = "kube-token-for-tests-0123456789"


def history(count: int = 24) -> list[dict[str, Any]]:
    """PipelineRuns and TaskRuns over two namespaces, with Results record metadata (update times in the past)."""
    objects = []
    for i in range(count):
        kind = "PipelineRun" if i % 3 == 0 else "TaskRun"
        namespace = "team-a" if i % 2 == 0 else "team-b"
        obj = tekton_object(f"uid-{i:03d}", kind=kind, rv=100 + i, namespace=namespace)
        objects.append(obj)
    return objects


def write_records(data_dir: Path, objects: list[dict[str, Any]]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "records.ndjson", "w") as out:
        for i, obj in enumerate(objects):
            meta = obj["metadata"]
            stamp = (BASE + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
            record = {
                "name": f"{meta['namespace']}/results/{meta['uid']}/records/{meta['uid']}",
                "type": f"{obj['apiVersion']}.{obj['kind']}",
                "create_time": stamp,
                "update_time": stamp,
                "data": obj,
            }
            out.write(json.dumps(record) + "\n")
    return data_dir


@pytest.fixture
def results_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(write_records(tmp_path / "history", history()))
    yield server
    server.stop()


def results_config(server: RunningServer, transport: str = "grpc", **settings: Any) -> SourcesConfig:
    url = server.grpc_target if transport == "grpc" else server.rest_url
    source = ResultsSource(url=url, transport=transport, plaintext=True, page_size=5)  # type: ignore[arg-type]
    return SourcesConfig(clusters=[ClusterConfig(results=source)], ingest=IngestSettings(**settings))


def client_for(server: RunningServer) -> ResultsClient:
    return ResultsClient(ResultsClientConfig(url=server.grpc_target, plaintext=True))


def snapshot(paths: WarehousePaths) -> dict[str, list]:
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        return {
            "objects": con.execute("SELECT * FROM raw.tekton_objects ORDER BY cluster, uid").fetchall(),
            "rejects": con.execute("SELECT * FROM raw.rejects ORDER BY ALL").fetchall(),
            "watermarks": con.execute(
                "SELECT cluster, source, kind, scope, watermark, updated_at FROM raw.watermarks ORDER BY ALL"
            ).fetchall(),
        }


def stored_object(paths: WarehousePaths, uid: str) -> dict[str, Any]:
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        return json.loads(
            con.execute("SELECT object FROM raw.tekton_objects WHERE uid = ?", [uid]).fetchone()[0]
        )


def counts(report: IngestReport) -> tuple[int, int, int]:
    totals = report.totals
    return totals.fetched, totals.loaded, totals.unchanged


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_ingest_loads_everything_then_a_rerun_changes_nothing(warehouse_home, results_server, transport):
    config = results_config(results_server, transport, batch_size=7)
    first = ingest(warehouse_home, config)
    assert counts(first) == (24, 24, 0)
    assert not first.failed
    before = snapshot(warehouse_home)
    assert {row[9] for row in before["objects"]} == {"results"}
    assert [(w[0], w[1], w[2], w[3], w[4]) for w in before["watermarks"]] == [
        ("default", "results", "PipelineRun", "-/results/-", BASE + timedelta(minutes=21)),
        ("default", "results", "TaskRun", "-/results/-", BASE + timedelta(minutes=23)),
    ]
    second = ingest(warehouse_home, config)
    # The overlap window re-reads the newest records; they are found unchanged.
    assert second.totals.loaded == 0 and second.totals.fetched > 0
    assert snapshot(warehouse_home) == before


def test_incremental_run_asks_only_for_what_changed(warehouse_home, results_server):
    config = results_config(results_server, overlap_seconds=0)
    ingest(warehouse_home, config)
    with client_for(results_server) as client:
        changed = tekton_object("uid-004", kind="TaskRun", rv=500, namespace="team-a", reason="Failed")
        client.update_record("team-a/results/uid-004/records/uid-004", changed)
    report = ingest(warehouse_home, config)
    assert counts(report) == (1, 1, 0), "only the record updated since the watermark is fetched"
    assert stored_object(warehouse_home, "uid-004")["status"]["conditions"][0]["reason"] == "Failed"


def test_update_arriving_during_a_run_is_not_skipped(warehouse_home, results_server):
    """A record already read in this run is updated on the server mid-run: this run or the next picks it up."""
    config = results_config(results_server, batch_size=5, overlap_seconds=0)
    client = client_for(results_server)
    updated = []

    def update_after_first_batch(run: SourceRun) -> None:
        if run.kind == "TaskRun" and not updated:
            first_task_run = tekton_object(
                "uid-001", kind="TaskRun", rv=900, namespace="team-b", reason="Failed"
            )
            client.update_record("team-b/results/uid-001/records/uid-001", first_task_run)
            updated.append(run.counts.batches)

    try:
        ingest(warehouse_home, config, on_batch=update_after_first_batch)
        ingest(warehouse_home, config)
    finally:
        client.close()
    assert updated == [1]
    assert stored_object(warehouse_home, "uid-001")["metadata"]["resourceVersion"] == "900"


def test_reconciliation_reports_server_totals_per_namespace(warehouse_home, results_server, capsys):
    config_file = warehouse_home.home / "sources.yaml"
    config_file.write_text(
        f"clusters:\n- name: east\n  results:\n    url: {results_server.grpc_target}\n    plaintext: true\n"
    )
    assert main(["ingest", "--home", str(warehouse_home.home)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "east results -/results/- PipelineRun: fetched 8, loaded 8, unchanged 0, rejected 0 (see raw.rejects)"
        in out
    )
    assert "east TaskRun team-a: server 8, warehouse 8" in out
    assert "east TaskRun team-b: server 8, warehouse 8" in out
    assert "east PipelineRun team-a: server 4, warehouse 4" in out
    with duckdb.connect(str(warehouse_home.warehouse_db), read_only=True) as con:
        messages = con.execute("SELECT DISTINCT status, message FROM raw.ingestion_log").fetchall()
    assert messages == [("ok", "reconciled: all namespaces complete")]


def test_namespaced_parents_have_their_own_watermarks(warehouse_home, results_server):
    config = results_config(results_server)
    config.clusters[0].results.namespaces = ["team-b"]
    report = ingest(warehouse_home, config)
    assert counts(report) == (12, 12, 0)
    scopes = {(w[2], w[3]) for w in snapshot(warehouse_home)["watermarks"]}
    assert scopes == {("PipelineRun", "team-b/results/-"), ("TaskRun", "team-b/results/-")}


def test_one_off_results_url_flags(warehouse_home, results_server, capsys, monkeypatch):
    monkeypatch.setenv("UNUSED_TOKEN", "not-checked-by-this-server")
    argv = ["ingest", "--home", str(warehouse_home.home), "--results-url", results_server.rest_url,
            "--plaintext", "--namespace", "team-a", "--cluster-name", "lab", "--token-env", "UNUSED_TOKEN"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "lab results team-a/results/- TaskRun: fetched 8, loaded 8" in out
    assert "not-checked" not in out
    assert {row[0] for row in snapshot(warehouse_home)["objects"]} == {"lab"}


def test_same_uid_from_results_and_kubernetes_is_one_row_newest_wins(
    warehouse_home, results_server, tmp_path
):
    live = tekton_object("uid-003", kind="PipelineRun", rv=None, namespace="team-b", reason="Failed")
    live_only = tekton_object("live-1", kind="TaskRun", rv=None, namespace="team-a", reason="Running")
    with FakeKubeApiServer([live, live_only], tokens={KUBE_TOKEN: Identity("reader")}).start() as kube:
        # The fake API server hands out resourceVersions 1 and 2: lower than the archived copy's 103.
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url, KUBE_TOKEN)
        config = results_config(results_server)
        config.clusters[0].kubernetes = KubernetesSource(kubeconfig=str(kubeconfig))
        report = ingest(warehouse_home, config)
    assert not report.failed, report.lines()
    objects = snapshot(warehouse_home)["objects"]
    assert len(objects) == 25
    by_uid = {row[1]: row for row in objects}
    assert by_uid["uid-003"][9] == "results", "resourceVersion 103 (Results) beats 1 (the live copy)"
    assert by_uid["live-1"][9] == "kubernetes"
    kube_runs = [run for run in report.runs if run.source == "kubernetes"]
    assert [(run.kind, run.counts.fetched, run.counts.loaded) for run in kube_runs] == [
        ("PipelineRun", 1, 0),
        ("TaskRun", 1, 1),
    ]


def test_a_second_ingest_stops_with_a_clear_message_or_waits(warehouse_home, results_server):
    config = results_config(results_server)
    with writer_lock(warehouse_home), pytest.raises(WarehouseBusyError) as busy:
        ingest(warehouse_home, config, wait_s=0)
    assert str(busy.value).startswith(f"another ingest or build is writing {warehouse_home.warehouse_db}")
    assert not warehouse_home.warehouse_db.exists(), "the waiting ingest wrote nothing"

    holder_ready, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with writer_lock(warehouse_home):
            holder_ready.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    holder_ready.wait(30)
    threading.Timer(0.3, release.set).start()
    report = ingest(warehouse_home, config, wait_s=60)
    holder.join()
    assert counts(report) == (24, 24, 0)


def test_cli_busy_message_is_one_line(warehouse_home, results_server, capsys):
    with writer_lock(warehouse_home):
        code = main(["ingest", "--home", str(warehouse_home.home), "--results-url", results_server.grpc_target,
                     "--plaintext"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tekton-warehouse ingest: error: another ingest or build is writing")
    assert len(err.splitlines()) == 1


def test_unreachable_results_is_reported_and_logged(warehouse_home, capsys):
    config_file = warehouse_home.home / "sources.yaml"
    config_file.write_text(
        "clusters:\n- results:\n    url: 127.0.0.1:9\n    plaintext: true\n    timeout_s: 1\n"
    )
    code = main(["ingest", "--home", str(warehouse_home.home)])
    assert code == 2
    assert "failed" in capsys.readouterr().err
    with duckdb.connect(str(warehouse_home.warehouse_db), read_only=True) as con:
        statuses = con.execute("SELECT DISTINCT status FROM raw.ingestion_log").fetchall()
    assert statuses == [("failed",)]
