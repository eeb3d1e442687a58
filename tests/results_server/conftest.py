"""A local Results server over a small hand-made history, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from etl.results_server.server import RunningServer, start_server
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2_grpc

from .records import history, write_records

HISTORY_SIZE = 137


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return history(HISTORY_SIZE)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]) -> Path:
    return write_records(tmp_path_factory.mktemp("history"), records)


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[RunningServer]:
    with start_server(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def stub(server: RunningServer) -> Iterator[api_pb2_grpc.ResultsStub]:
    channel = grpc.insecure_channel(server.grpc_target)
    yield api_pb2_grpc.ResultsStub(channel)
    channel.close()
