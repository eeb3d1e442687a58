"""Every way the Kubernetes source can fail ends in one clear line that never holds the token."""

from __future__ import annotations

import socket

import pytest

from etl.config import KubernetesSource as KubernetesSourceConfig
from etl.errors import AuthError, SourceError
from etl.kube import KubernetesSource
from etl.kube.testing import Identity, make_tls_files, write_kubeconfig

from .conftest import READER, TOKEN, uids


def assert_one_clean_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message
    assert TOKEN not in message
    return message


def test_wrong_token_is_401_naming_the_context(serve, source_for):
    server = serve()
    wrong = "wrong-token-abcdef-987654"
    source = source_for(server, token=wrong)

    with pytest.raises(AuthError) as caught:
        list(source.pages("PipelineRun"))

    message = assert_one_clean_line(caught.value)
    assert wrong not in message
    assert "401 Unauthorized" in message
    assert "token is expired or invalid" in message
    assert "kubeconfig context 'fake'" in message
    assert server.url in message


def test_cluster_wide_list_without_cluster_rbac_names_the_grant(serve, source_for):
    server = serve(tokens={TOKEN: Identity(READER, namespaces=frozenset({"team-a"}))})
    source = source_for(server)

    with pytest.raises(AuthError) as caught:
        list(source.pages("PipelineRun"))

    message = assert_one_clean_line(caught.value)
    assert "403 Forbidden" in message
    assert "`get, list, watch` on API group `tekton.dev` resources `pipelineruns`, `taskruns`" in message
    assert "cluster-wide (a ClusterRole and ClusterRoleBinding)" in message
    assert "kubernetes.namespaces" in message
    assert f'User "{READER}" cannot list resource "pipelineruns"' in message


def test_namespace_without_rbac_names_that_namespace(serve, source_for):
    server = serve(tokens={TOKEN: Identity(READER, namespaces=frozenset({"team-a"}))})
    allowed = source_for(server, namespaces=["team-a"])
    assert set(uids(allowed.pages("PipelineRun"))) == {"pr-uid-0", "pr-uid-1", "pr-uid-3", "pr-uid-6"}

    source = source_for(server, namespaces=["team-a", "team-b"])
    with pytest.raises(AuthError) as caught:
        list(source.pages("TaskRun"))

    message = assert_one_clean_line(caught.value)
    assert "in namespace `team-b` (a Role and RoleBinding there)" in message
    assert "`get, list, watch` on API group `tekton.dev` resources `pipelineruns`, `taskruns`" in message


def test_unreachable_server_names_the_url(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, TOKEN, context="prod")
    source = KubernetesSource(KubernetesSourceConfig(kubeconfig=str(kubeconfig)), cluster="prod")

    with pytest.raises(SourceError) as caught:
        list(source.pages("PipelineRun"))

    message = assert_one_clean_line(caught.value)
    assert f"cannot reach the Kubernetes API {url}" in message
    assert "kubeconfig context 'prod'" in message
    assert "kubectl config current-context" in message


def test_tls_verified_with_the_kubeconfig_ca(serve, source_for, tls_files):
    server = serve(tls=tls_files)
    assert server.url.startswith("https://")

    assert len(uids(source_for(server, ca_file=tls_files.ca_cert).pages())) == 10


def test_tls_with_a_wrong_ca_fails_clearly(serve, source_for, tls_files, tmp_path):
    server = serve(tls=tls_files)
    other_ca = make_tls_files(tmp_path / "other", common_name="someone-else").ca_cert

    with pytest.raises(SourceError) as caught:
        list(source_for(server, ca_file=other_ca).pages("PipelineRun"))

    message = assert_one_clean_line(caught.value)
    assert f"TLS verification of the Kubernetes API {server.url} failed" in message
    assert "certificate verify failed" in message
    assert "certificate-authority" in message


def test_tls_is_verified_by_default(serve, source_for, tls_files):
    # No CA in the kubeconfig: the system trust store does not know our CA, so the handshake must fail.
    server = serve(tls=tls_files)
    with pytest.raises(SourceError, match=r"TLS verification .* failed"):
        list(source_for(server).pages("PipelineRun"))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_tls_verify_only_when_the_kubeconfig_says_so(serve, source_for, tls_files):
    server = serve(tls=tls_files)
    assert len(uids(source_for(server, insecure=True).pages("TaskRun"))) == 3


def test_no_kubeconfig_anywhere_says_how_to_configure(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    source = KubernetesSource(KubernetesSourceConfig(), cluster="c")

    with pytest.raises(SourceError) as caught:
        list(source.pages())

    message = assert_one_clean_line(caught.value)
    assert "no kubeconfig found (looked at ~/.kube/config)" in message
    assert "kubernetes.kubeconfig" in message and "KUBECONFIG" in message and "in_cluster" in message


def test_configured_kubeconfig_missing(tmp_path):
    source = KubernetesSource(KubernetesSourceConfig(kubeconfig=str(tmp_path / "nope")), cluster="c")
    with pytest.raises(SourceError, match=r"kubeconfig .*nope does not exist: fix kubernetes.kubeconfig"):
        list(source.pages())


def test_unknown_context_lists_the_known_ones(serve, tmp_path):
    server = serve()
    kubeconfig = write_kubeconfig(
        tmp_path / "kc", server.url, TOKEN, context="dev", extra_contexts=["staging"]
    )
    config = KubernetesSourceConfig(kubeconfig=str(kubeconfig), context="prod")

    with pytest.raises(SourceError, match=r"context 'prod' is not in kubeconfig .*: use one of dev, staging"):
        list(KubernetesSource(config, cluster="c").pages())


def test_kubeconfig_env_with_several_files_and_a_chosen_context(serve, runs, tmp_path, monkeypatch):
    first = serve(runs[:2])
    second = serve(runs[2:4])
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = [
        write_kubeconfig(tmp_path / "a", first.url, TOKEN, context="alpha"),
        write_kubeconfig(tmp_path / "b", second.url, TOKEN, context="beta"),
    ]
    monkeypatch.setenv("KUBECONFIG", f"{paths[0]}:{tmp_path / 'missing'}:{paths[1]}")

    current = KubernetesSource(KubernetesSourceConfig(), cluster="c")
    chosen = KubernetesSource(KubernetesSourceConfig(context="beta"), cluster="c")

    assert set(uids(current.pages("PipelineRun"))) == {"pr-uid-0", "pr-uid-1"}
    assert set(uids(chosen.pages("PipelineRun"))) == {"pr-uid-2", "pr-uid-3"}


def test_malformed_kubeconfig(tmp_path):
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("clusters: [unclosed\n")
    with pytest.raises(SourceError, match=r"kubeconfig .*kc cannot be read"):
        list(KubernetesSource(KubernetesSourceConfig(kubeconfig=str(kubeconfig)), cluster="c").pages())


def test_building_the_source_touches_nothing(tmp_path):
    # Dagster builds sources at load time; a missing kubeconfig must only fail when listing.
    source = KubernetesSource(KubernetesSourceConfig(kubeconfig=str(tmp_path / "absent")), cluster="c")
    assert source.cluster == "c"
