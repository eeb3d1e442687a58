"""The fake API server speaks enough real Kubernetes for kubectl itself: discovery, TLS, auth and chunked lists."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from etl.kube.testing import write_kubeconfig

from .conftest import TOKEN

KUBECTL = shutil.which("kubectl")


def kubectl(kubeconfig, home, *args: str) -> subprocess.CompletedProcess[str]:
    command = [KUBECTL or "kubectl", "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={"HOME": str(home)}, timeout=60, check=False
    )


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_lists_runs_in_chunks_over_tls(serve, tls_files, tmp_path):
    server = serve(tls=tls_files)
    kubeconfig = write_kubeconfig(tmp_path / "kc", server.url, TOKEN, ca_file=tls_files.ca_cert)

    result = kubectl(
        kubeconfig, tmp_path, "get", "pipelineruns.tekton.dev", "-A", "-o", "name", "--chunk-size=3"
    )

    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(f"pipelinerun.tekton.dev/build-{i}" for i in range(7))
    chunked = [r for r in server.requests if r.path == "/apis/tekton.dev/v1/pipelineruns"]
    assert [r.query.get("limit") for r in chunked] == ["3", "3", "3"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_sees_403_from_the_fake(serve, tls_files, tmp_path):
    server = serve(tls=tls_files)
    kubeconfig = write_kubeconfig(tmp_path / "kc", server.url, "not-a-known-token", ca_file=tls_files.ca_cert)

    result = kubectl(kubeconfig, tmp_path, "get", "--raw", "/apis/tekton.dev/v1/taskruns")

    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr
