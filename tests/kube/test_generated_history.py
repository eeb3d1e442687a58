"""The generator's history served by the local Kubernetes API and read back through the source into the raw layer."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from etl.config import IngestSettings
from etl.kube.testing import FakeKubeApiServer, Identity
from etl.results_server.server import start_server
from etl.synth.generator import GenerateOptions, generate_history
from etl.tekton_results.client import ResultsClient, ResultsClientConfig
from etl.warehouse.load import load_pages
from etl.warehouse.schema import connect

from .conftest import TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history")
    options = GenerateOptions(
        days=2, pipelines=4, runs_per_day=2, seed=7, end_date=date(2026, 11, 1), namespaces=2
    )
    generate_history(options, out)
    return out


def run_uids_by_kind(objects_file: Path) -> dict[str, dict[str, str]]:
    """kind -> {uid: apiVersion} of the PipelineRuns and TaskRuns in a generator objects.ndjson."""
    found: dict[str, dict[str, str]] = {"PipelineRun": {}, "TaskRun": {}}
    with objects_file.open() as lines:
        for line in lines:
            obj = json.loads(line)
            if obj["kind"] in found:
                found[obj["kind"]][obj["metadata"]["uid"]] = obj["apiVersion"]
    return found


def test_generated_runs_list_back_exactly(history, source_for):
    expected = run_uids_by_kind(history / "objects.ndjson")
    assert expected["PipelineRun"] and expected["TaskRun"]
    assert {"tekton.dev/v1", "tekton.dev/v1beta1"} <= set(expected["PipelineRun"].values())
    # The fake serves bodies unconverted, so each item keeps its own apiVersion, which the type hint must follow.
    server = FakeKubeApiServer(tokens={TOKEN: Identity("reader")})
    server.load_ndjson(history / "objects.ndjson")
    with server:
        source = source_for(server, page_size=37)
        for kind, versions in expected.items():
            rows = [row for page in source.pages(kind) for row in page.to_pylist()]
            got = Counter(json.loads(row["data"])["metadata"]["uid"] for row in rows)
            assert set(got) == set(versions) and max(got.values()) == 1
            hints = {json.loads(row["data"])["metadata"]["uid"]: row["type_hint"] for row in rows}
            assert hints == {uid: f"{version}.{kind}" for uid, version in versions.items()}


def test_kubernetes_and_results_copies_of_a_history_load_as_one_row_per_run(history, source_for, tmp_path):
    expected = run_uids_by_kind(history / "objects.ndjson")
    server = FakeKubeApiServer(tokens={TOKEN: Identity("reader")})
    server.load_ndjson(history / "objects.ndjson")
    results_server = start_server(history)
    results = ResultsClient(ResultsClientConfig(url=results_server.grpc_target, plaintext=True))
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        with server:
            kube = load_pages(
                con, source_for(server).pages(), cluster="c", source="kubernetes", settings=IngestSettings()
            )
        from_results = load_pages(
            con, results.list_record_pages(), cluster="c", source="results", settings=IngestSettings()
        )
        stored = dict(
            con.execute("SELECT kind, count(DISTINCT uid) FROM raw.tekton_objects GROUP BY kind").fetchall()
        )
        total = con.execute("SELECT count(*) FROM raw.tekton_objects").fetchone()[0]
    finally:
        con.close()
        results.close()
        results_server.stop()

    runs = len(expected["PipelineRun"]) + len(expected["TaskRun"])
    assert (kube.fetched, kube.loaded, kube.rejected) == (runs, runs, 0)
    assert (from_results.fetched, from_results.rejected) == (runs, 0)
    assert stored == {kind: len(uids) for kind, uids in expected.items()}
    assert total == runs
