"""Fixtures for the Kubernetes source: hand-made Tekton runs, TLS files, and a kubeconfig pointed at a fake server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from etl.config import KubernetesSource as KubernetesSourceConfig
from etl.kube import KubernetesSource
from etl.kube.testing import FakeKubeApiServer, Identity, TlsFiles, make_tls_files, write_kubeconfig

TOKEN = "s3cr3t-token-value-0123456789"
READER = "system:serviceaccount:ci:warehouse"


def tekton_run(kind: str, namespace: str, name: str, uid: str, version: str = "v1") -> dict[str, Any]:
    """A small but realistic Tekton run object."""
    status = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    return {
        "apiVersion": f"tekton.dev/{version}",
        "kind": kind,
        "metadata": {
            "namespace": namespace,
            "name": name,
            "uid": uid,
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "labels": {"tekton.dev/pipeline": "build"},
        },
        "spec": {"pipelineRef": {"name": "build"}}
        if kind == "PipelineRun"
        else {"taskRef": {"name": "compile"}},
        "status": status,
    }


@pytest.fixture
def runs() -> list[dict[str, Any]]:
    """7 PipelineRuns over three namespaces and 3 TaskRuns."""
    pipeline_runs = [
        tekton_run("PipelineRun", namespace, f"build-{i}", f"pr-uid-{i}")
        for i, namespace in enumerate(["team-a", "team-a", "team-b", "team-a", "team-c", "team-b", "team-a"])
    ]
    task_runs = [
        tekton_run("TaskRun", namespace, f"build-{i}-compile", f"tr-uid-{i}")
        for i, namespace in enumerate(["team-a", "team-b", "team-c"])
    ]
    return pipeline_runs + task_runs


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(runs: list[dict[str, Any]]) -> Iterator[Callable[..., FakeKubeApiServer]]:
    """Start fake API servers (stopped after the test); keyword arguments go to `FakeKubeApiServer`."""
    started: list[FakeKubeApiServer] = []

    def start(objects: list[dict[str, Any]] | None = None, **options: Any) -> FakeKubeApiServer:
        options.setdefault("tokens", {TOKEN: Identity(READER)})
        server = FakeKubeApiServer(runs if objects is None else objects, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def source_for(tmp_path: Path) -> Iterator[Callable[..., KubernetesSource]]:
    """A KubernetesSource reading a fresh kubeconfig for `server` (token TOKEN unless told otherwise)."""
    made: list[KubernetesSource] = []

    def make(
        server: FakeKubeApiServer,
        *,
        token: str = TOKEN,
        ca_file: Path | None = None,
        insecure: bool = False,
        **config: Any,
    ) -> KubernetesSource:
        kubeconfig = write_kubeconfig(
            tmp_path / f"kubeconfig-{len(made)}",
            server.url,
            token,
            ca_file=ca_file,
            insecure_skip_tls_verify=insecure,
        )
        source = KubernetesSource(
            KubernetesSourceConfig(kubeconfig=str(kubeconfig), **config), cluster="test"
        )
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def rows(pages: Iterator[pa.Table]) -> list[dict[str, Any]]:
    """All rows of all pages, each with its decoded object under "object"."""
    out = []
    for page in pages:
        for row in page.to_pylist():
            row["object"] = json.loads(row["data"])
            out.append(row)
    return out


def uids(pages: Iterator[pa.Table]) -> list[str]:
    return [row["object"]["metadata"]["uid"] for row in rows(pages)]
