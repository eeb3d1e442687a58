"""Build a Kubernetes API client for one configured cluster, and turn its failures into one readable line.

Each source gets its own `ApiClient` (in-cluster service account, or a kubeconfig file and context); the global
default client of the `kubernetes` package is never read or set, so several clusters can be pulled in one process.
TLS is verified unless the kubeconfig itself says `insecure-skip-tls-verify`. Messages name the server, the context
and what to do, never a token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from kubernetes import client as kube_client
from kubernetes.config import incluster_config, kube_config
from kubernetes.config.config_exception import ConfigException

from etl.config import KubernetesSource as KubernetesSourceConfig
from etl.errors import AuthError, SourceError, WarehouseError

DEFAULT_KUBECONFIG = "~/.kube/config"
TEKTON_RBAC_RESOURCES = "`get, list, watch` on API group `tekton.dev` resources `pipelineruns`, `taskruns`"


@dataclass(frozen=True)
class KubeConnection:
    """An API client plus what the messages need to say where it points: server URL and credentials in use."""

    api_client: kube_client.ApiClient
    server: str
    credentials: str
    in_cluster: bool = False

    def close(self) -> None:
        self.api_client.close()


def connect(config: KubernetesSourceConfig) -> KubeConnection:
    """A client for the in-cluster service account or for the configured kubeconfig context."""
    if config.in_cluster:
        return _connect_in_cluster()
    return _connect_with_kubeconfig(config)


def _connect_in_cluster() -> KubeConnection:
    configuration = kube_client.Configuration()
    # Read the module attributes at call time: they are where the pod's service account files are mounted.
    token_file = incluster_config.SERVICE_TOKEN_FILENAME
    try:
        incluster_config.load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        raise SourceError(_in_cluster_problem(str(exc), token_file)) from None
    credentials = f"the in-cluster service account (token file {token_file})"
    return KubeConnection(
        kube_client.ApiClient(configuration), configuration.host, credentials, in_cluster=True
    )


def _in_cluster_problem(reason: str, token_file: str) -> str:
    if "host/port" in reason:
        return (
            "kubernetes.in_cluster is set but KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not: run inside "
            "a pod, or set kubernetes.kubeconfig / kubernetes.context in the sources config instead"
        )
    if "token" in reason.lower():
        return (
            f"in-cluster service account token {token_file} is missing or empty: mount the pod's service account "
            "token (automountServiceAccountToken: true) or use a kubeconfig"
        )
    return (
        f"in-cluster service account CA certificate {incluster_config.SERVICE_CERT_FILENAME} is missing or empty: "
        "mount the pod's service account or use a kubeconfig"
    )


def _connect_with_kubeconfig(config: KubernetesSourceConfig) -> KubeConnection:
    kubeconfig = _kubeconfig_files(config.kubeconfig)
    context = _chosen_context(kubeconfig, config.context)
    credentials = f"kubeconfig context '{context}' ({kubeconfig})"
    configuration = kube_client.Configuration()
    try:
        # persist_config=False: never write refreshed credentials back into the user's kubeconfig.
        api_client = kube_config.new_client_from_config(
            config_file=kubeconfig, context=context, persist_config=False, client_configuration=configuration
        )
    except (ConfigException, ValueError, OSError) as exc:
        raise SourceError(
            f"{credentials} cannot be used: {_first_line(exc)}; check it with `kubectl config view`"
        ) from None
    return KubeConnection(api_client, configuration.host, credentials)


def _kubeconfig_files(configured: str | None) -> str:
    """The kubeconfig path(s) to load: the configured file, else $KUBECONFIG (read now), else ~/.kube/config."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise SourceError(
                f"kubeconfig {path} does not exist: fix kubernetes.kubeconfig in the sources config, or drop it to "
                "use $KUBECONFIG / ~/.kube/config"
            )
        return str(path)
    from_env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in from_env.split(os.pathsep) if p] or [DEFAULT_KUBECONFIG]
    existing = [str(Path(p).expanduser()) for p in candidates if Path(p).expanduser().is_file()]
    if not existing:
        looked_at = f"KUBECONFIG={from_env}" if from_env else DEFAULT_KUBECONFIG
        raise SourceError(
            f"no kubeconfig found (looked at {looked_at}): set kubernetes.kubeconfig (and context) in the sources "
            "config, export KUBECONFIG, or set kubernetes.in_cluster: true when running in a pod"
        )
    return os.pathsep.join(existing)


def _chosen_context(kubeconfig: str, wanted: str | None) -> str:
    try:
        contexts, _ = kube_config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, yaml.YAMLError, OSError) as exc:
        raise SourceError(f"kubeconfig {kubeconfig} cannot be read: {_first_line(exc)}") from None
    names = [c.get("name") for c in contexts or [] if isinstance(c, dict)]
    if wanted:
        if wanted not in names:
            raise SourceError(
                f"context '{wanted}' is not in kubeconfig {kubeconfig}: use one of {', '.join(names) or '(none)'} "
                "in kubernetes.context"
            )
        return wanted
    current = _first_current_context(kubeconfig)
    if not current:
        raise SourceError(
            f"kubeconfig {kubeconfig} has no current-context: set kubernetes.context in the sources config"
        )
    return current


def _first_current_context(kubeconfig: str) -> str | None:
    """The current-context kubectl would use: the first file of the list that sets one.

    The Python client lets the last file win instead; we follow kubectl so both talk to the same cluster.
    """
    for path in kubeconfig.split(os.pathsep):
        document = yaml.safe_load(Path(path).read_text()) or {}
        if isinstance(document, dict) and document.get("current-context"):
            return str(document["current-context"])
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]


# ----------------------------------------------------------------------------------------------------------------
# Failures of a request
# ----------------------------------------------------------------------------------------------------------------


def unreachable_error(connection: KubeConnection, exc: Exception) -> WarehouseError:
    """A request never got an HTTP answer: TLS failure, refused or timed-out connection."""
    reason: object = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, kube_client.ApiException):
        # The REST layer reports TLS failures as status 0 with "SSLError\n<detail>" as the reason.
        reason = str(reason.reason or "")
    tls_failed = isinstance(reason, urllib3.exceptions.SSLError) or str(reason).startswith("SSLError")
    if tls_failed:
        detail = str(reason).removeprefix("SSLError").strip().replace("\n", " ")[:300]
        return SourceError(
            f"TLS verification of the Kubernetes API {connection.server} failed ({detail}): check the cluster's "
            f"certificate-authority for {connection.credentials}"
        )
    kind = reason.__class__.__name__ if isinstance(reason, Exception) else str(reason)[:200]
    if connection.in_cluster:
        hint = (
            "check KUBERNETES_SERVICE_HOST/PORT and that network policies let this pod reach the API server"
        )
    else:
        hint = (
            f"check that the server is up and that {connection.credentials} points at the right cluster "
            "(`kubectl config current-context`)"
        )
    return SourceError(f"cannot reach the Kubernetes API {connection.server} ({kind}): {hint}")


def unauthorized_error(connection: KubeConnection) -> AuthError:
    return AuthError(
        f"the Kubernetes API {connection.server} rejected the credentials of {connection.credentials} "
        "(401 Unauthorized): the token is expired or invalid; log in again or renew it"
    )


def forbidden_error(connection: KubeConnection, namespace: str | None, server_message: str) -> AuthError:
    """Name the exact RBAC grant that is missing, for the scope we listed."""
    if namespace:
        scope = f"in namespace `{namespace}` (a Role and RoleBinding there)"
    else:
        scope = "cluster-wide (a ClusterRole and ClusterRoleBinding), or list only some namespaces with kubernetes.namespaces"
    return AuthError(
        f"the Kubernetes API {connection.server} denied {connection.credentials} (403 Forbidden: "
        f"{server_message[:300]}): grant {TEKTON_RBAC_RESOURCES} {scope}"
    )
