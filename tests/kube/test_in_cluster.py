"""In-cluster config: env KUBERNETES_SERVICE_HOST/PORT plus the mounted service-account token and CA files.

The client reads fixed paths under /var/run/secrets; the tests point the package's path constants at a temp dir.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kubernetes.config import incluster_config

from etl.config import KubernetesSource as KubernetesSourceConfig
from etl.errors import AuthError, SourceError
from etl.kube import KubernetesSource

from .conftest import TOKEN, uids


@pytest.fixture
def service_account(tmp_path: Path, tls_files, monkeypatch: pytest.MonkeyPatch) -> Path:
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(TOKEN)
    (mount / "ca.crt").write_bytes(tls_files.ca_cert.read_bytes())
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(mount / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(mount / "ca.crt"))
    return mount


def in_cluster_source() -> KubernetesSource:
    return KubernetesSource(KubernetesSourceConfig(in_cluster=True, namespaces=["team-c"]), cluster="here")


def test_in_cluster_lists_with_the_mounted_token_and_ca(serve, tls_files, service_account, monkeypatch):
    server = serve(tls=tls_files)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))

    assert set(uids(in_cluster_source().pages())) == {"pr-uid-4", "tr-uid-2"}
    assert {r.authorization for r in server.requests} == {f"bearer {TOKEN}"}


def test_in_cluster_with_a_revoked_token(serve, tls_files, service_account, monkeypatch):
    server = serve(tls=tls_files)
    (service_account / "token").write_text("revoked-token-1234")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))

    with pytest.raises(AuthError) as caught:
        list(in_cluster_source().pages())
    message = str(caught.value)
    assert "in-cluster service account" in message and "401 Unauthorized" in message
    assert "revoked-token-1234" not in message


def test_in_cluster_outside_a_pod(service_account, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)

    with pytest.raises(
        SourceError, match="KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not: run inside a pod"
    ):
        list(in_cluster_source().pages())


def test_in_cluster_without_a_token_file(service_account, monkeypatch):
    (service_account / "token").unlink()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")

    with pytest.raises(SourceError, match=r"service account token .*token is missing or empty"):
        list(in_cluster_source().pages())


def test_in_cluster_unreachable_api_names_the_service_address(service_account, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))

    with pytest.raises(SourceError) as caught:
        list(in_cluster_source().pages())
    message = str(caught.value)
    assert f"cannot reach the Kubernetes API https://127.0.0.1:{port}" in message
    assert "KUBERNETES_SERVICE_HOST/PORT" in message and TOKEN not in message
