"""The generator's records.ndjson (the real input of the demo and benchmark) loads and round-trips unchanged."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from etl.cli import main as cli_main
from etl.results_server.server import start_server
from etl.tekton_results.client import ResultsClient, ResultsClientConfig


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    argv = ["generate", "--out", str(out), "--days", "2", "--pipelines", "4", "--format", "records"]
    assert cli_main(argv) == 0
    return out


def test_generated_records_round_trip_over_both_transports(generated: Path) -> None:
    source = [json.loads(line) for line in (generated / "records.ndjson").read_text().splitlines()]
    by_name = {r["name"]: r for r in source}
    assert len(by_name) == len(source) > 50
    with start_server(generated) as server:
        for transport, url in (("grpc", server.grpc_target), ("rest", server.rest_url)):
            config = ResultsClientConfig(url=url, transport=transport, plaintext=True)  # type: ignore[arg-type]
            with ResultsClient(config) as client:
                rows = [row for page in client.list_record_pages(page_size=25) for row in page.to_pylist()]
                summary = client.record_list_summary("-/results/-", summary="total,succeeded", group_by="")
            assert Counter(r["source_ref"] for r in rows) == Counter(r["name"] for r in source)
            assert all(json.loads(r["data"]) == by_name[r["source_ref"]]["data"] for r in rows)
            succeeded = sum(
                (r["data"].get("status", {}).get("conditions") or [{}])[0].get("reason")
                in ("Succeeded", "Completed")
                for r in source
            )
            assert summary == [{"total": len(source), "succeeded": succeeded}]
