"""Tekton PipelineRuns and TaskRuns straight from a cluster's Kubernetes API, as source pages.

Runs still present in the cluster (not yet pruned) are listed with the official `kubernetes` client, in pages of
`page_size` (`limit` / `continue`), cluster-wide or per configured namespace, as `tekton.dev/v1`, or `v1beta1` on
clusters that do not serve v1. Each API page becomes one Arrow table in `SOURCE_PAGE_SCHEMA`.

Lists are read as raw bytes (`_preload_content=False`), never as `kubernetes` model objects. A page is decoded with
one `json.loads` and each item re-encoded with `json.dumps`: items have to be split out of the list and given their
`apiVersion` / `kind` (list items may lack them). That costs a few ms per 500-item page, fine for the few thousand
runs a live cluster keeps; long history comes from Tekton Results or exported files.

When a continue token expires mid-list (410 Gone), the list restarts from the beginning, at most
`MAX_LIST_RESTARTS` times. Objects of the pages already yielded come again; the raw layer's upsert on
(cluster, uid) keeps one row each, so a restart costs time, never duplicates.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pyarrow as pa
import urllib3
from kubernetes import client as kube_client

from etl.config import KubernetesSource as KubernetesSourceConfig
from etl.errors import SourceError, WarehouseError
from etl.kube.client import (
    KubeConnection,
    connect,
    forbidden_error,
    unauthorized_error,
    unreachable_error,
)
from etl.sources import SOURCE_PAGE_SCHEMA, data_column

log = logging.getLogger(__name__)

Kind = Literal["PipelineRun", "TaskRun"]
KINDS: tuple[Kind, ...] = get_args(Kind)
GROUP = "tekton.dev"
VERSIONS = ("v1", "v1beta1")  # preferred first
PLURALS: dict[str, str] = {"PipelineRun": "pipelineruns", "TaskRun": "taskruns"}
MAX_LIST_RESTARTS = 3
CONNECT_TIMEOUT_S = 10.0
# Answers worth asking again for the same page: throttling and passing server trouble.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_BACKOFF_S = (0.5, 2.0, 5.0)


class _ContinueExpired(Exception):
    """The server forgot our continue token (410 Gone); the list has to start again."""


@dataclass(frozen=True)
class _Page:
    table: pa.Table
    continue_token: str | None


class KubernetesSource:
    """Lists Tekton runs from one cluster's Kubernetes API; `pages(kind)` yields `SOURCE_PAGE_SCHEMA` tables.

    The API client is created on first use, so building the source reads no file and opens no connection.
    """

    def __init__(self, config: KubernetesSourceConfig, *, cluster: str) -> None:
        self.config = config
        self.cluster = cluster
        self._connection: KubeConnection | None = None
        self._version_of_plural: dict[str, str] = {}

    # -- public -------------------------------------------------------------------------------------------------

    def pages(self, kind: Kind | None = None) -> Iterator[pa.Table]:
        """Every `kind` run (both kinds when None) in the configured namespaces, or in all namespaces."""
        for chosen in (kind,) if kind else KINDS:
            if chosen not in PLURALS:
                raise SourceError(f"unknown kind {chosen!r}: the Kubernetes source lists {', '.join(KINDS)}")
            for namespace in dict.fromkeys(self.config.namespaces) or [None]:
                yield from self._list_pages(chosen, namespace)

    def served_versions(self) -> list[str]:
        """The `tekton.dev` versions the cluster serves (discovery `/apis/tekton.dev`); [] if Tekton is absent."""
        status, body = self._get("/apis/" + GROUP)
        if status == 404:
            return []
        if status != 200:
            raise self._http_error(status, body, namespace=None, what=f"GET /apis/{GROUP}")
        return [v["version"] for v in json.loads(body).get("versions", [])]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> KubernetesSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- listing ------------------------------------------------------------------------------------------------

    @property
    def connection(self) -> KubeConnection:
        if self._connection is None:
            self._connection = connect(self.config)
        return self._connection

    def _list_pages(self, kind: Kind, namespace: str | None) -> Iterator[pa.Table]:
        restarts = 0
        token: str | None = None
        while True:
            try:
                page = self._fetch_page(kind, namespace, token)
            except _ContinueExpired:
                restarts += 1
                if restarts > MAX_LIST_RESTARTS:
                    raise SourceError(self._too_many_restarts(kind, namespace)) from None
                log.warning("%s list continue token expired; restarting the list (%d)", kind, restarts)
                token = None
                continue
            if page.table.num_rows:
                yield page.table
            token = page.continue_token
            if not token:
                return

    def _too_many_restarts(self, kind: Kind, namespace: str | None) -> str:
        where = f"namespace {namespace}" if namespace else "all namespaces"
        return (
            f"listing {kind}s in {where} from {self.connection.server} lost its continue token {MAX_LIST_RESTARTS + 1} "
            "times (410 Gone): the list takes longer than the server keeps tokens; raise kubernetes.page_size "
            "or list fewer namespaces"
        )

    def _fetch_page(self, kind: Kind, namespace: str | None, token: str | None) -> _Page:
        plural = PLURALS[kind]
        version = self._version_of_plural.get(plural, VERSIONS[0])
        status, body = self._list_request(version, plural, namespace, token)
        while status == 404 and token is None and version != VERSIONS[-1]:
            # Older Tekton serves only v1beta1; a 404 on the list means "this version is not served".
            version = VERSIONS[VERSIONS.index(version) + 1]
            log.info("%s.%s/%s not served; trying %s", plural, GROUP, VERSIONS[0], version)
            status, body = self._list_request(version, plural, namespace, token)
        if status == 410 and token is not None:
            raise _ContinueExpired
        if status != 200:
            raise self._http_error(status, body, namespace, what=f"listing {kind}s")
        self._version_of_plural[plural] = version
        return _page_from_list(body, version, kind, plural)

    def _list_request(
        self, version: str, plural: str, namespace: str | None, token: str | None
    ) -> tuple[int, bytes]:
        api = kube_client.CustomObjectsApi(self.connection.api_client)
        options: dict[str, Any] = {
            "limit": self.config.page_size,
            "_continue": token,
            "_preload_content": False,
            "_request_timeout": (CONNECT_TIMEOUT_S, self.config.timeout_s),
        }
        if namespace:
            call = lambda: api.list_namespaced_custom_object(GROUP, version, namespace, plural, **options)  # noqa: E731
        else:
            call = lambda: api.list_cluster_custom_object(GROUP, version, plural, **options)  # noqa: E731
        return self._with_retries(call)

    def _get(self, path: str) -> tuple[int, bytes]:
        api_client = self.connection.api_client
        request = api_client.param_serialize(
            "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        timeout = (CONNECT_TIMEOUT_S, self.config.timeout_s)

        def call() -> urllib3.BaseHTTPResponse:
            response = api_client.call_api(*request, _request_timeout=timeout)
            return response.response

        return self._with_retries(call)

    def _with_retries(self, call: Any) -> tuple[int, bytes]:
        """Run one request; on a transient answer, ask again after a pause. Returns (status, body bytes)."""
        for attempt in range(len(TRANSIENT_BACKOFF_S) + 1):
            status, body, retry_after = self._one_request(call)
            if status not in TRANSIENT_STATUSES or attempt == len(TRANSIENT_BACKOFF_S):
                return status, body
            pause = min(retry_after or TRANSIENT_BACKOFF_S[attempt], 30.0)
            log.warning("Kubernetes API answered %d; asking again in %.1fs", status, pause)
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _one_request(self, call: Any) -> tuple[int, bytes, float | None]:
        try:
            response = call()
        except kube_client.ApiException as exc:
            if exc.status == 0:
                raise unreachable_error(self.connection, exc) from None
            body = exc.body.encode() if isinstance(exc.body, str) else (exc.body or b"")
            return int(exc.status), body, _retry_after(exc.headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable_error(self.connection, exc) from None
        try:
            return response.status, response.data, _retry_after(response.headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable_error(self.connection, exc) from None
        finally:
            response.release_conn()

    def _http_error(self, status: int, body: bytes, namespace: str | None, *, what: str) -> WarehouseError:
        message = _status_message(body)
        if status == 401:
            return unauthorized_error(self.connection)
        if status == 403:
            return forbidden_error(self.connection, namespace, message)
        if status == 404:
            return SourceError(
                f"{self.connection.server} serves no tekton.dev PipelineRuns/TaskRuns (tried {', '.join(VERSIONS)}): "
                f"is Tekton Pipelines installed in the cluster of {self.connection.credentials}?"
            )
        return SourceError(
            f"the Kubernetes API {self.connection.server} answered {status} while {what}: {message[:300]}"
        )


# ----------------------------------------------------------------------------------------------------------------
# Pages
# ----------------------------------------------------------------------------------------------------------------


def _page_from_list(body: bytes, version: str, kind: Kind, plural: str) -> _Page:
    """Split a list response into one row per item, each item with its apiVersion and kind set."""
    try:
        document = json.loads(body)
        items = document.get("items") or []
        token = (document.get("metadata") or {}).get("continue") or None
    except (ValueError, AttributeError):
        raise SourceError(
            f"the Kubernetes API sent a {kind} list that is not a JSON object list (starts {body[:80]!r}): "
            "check that the kubeconfig points at a Kubernetes API server, not a proxy's error page"
        ) from None
    api_version = f"{GROUP}/{version}"
    refs: list[str] = []
    hints: list[str | None] = []
    data: list[bytes] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            # Item fields win; the list's group/version and kind only fill what the server left out.
            item = {"apiVersion": api_version, "kind": kind, **item}
            metadata = item.get("metadata") or {}
            refs.append(_object_path(version, plural, metadata.get("namespace"), metadata.get("name")))
            hints.append(f"{item['apiVersion']}.{item['kind']}")
        else:
            refs.append(f"/apis/{api_version}/{plural}#{index}")
            hints.append(None)
        data.append(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
    # Typed arrays straight into the schema: `pa.table(dict)` would probe for (and import) pandas on first use.
    columns = [
        pa.array(refs, pa.string()),
        pa.array(hints, pa.string()),
        pa.nulls(len(refs), pa.timestamp("us", tz="UTC")),
        data_column(data),
    ]
    table = pa.Table.from_arrays(columns, schema=SOURCE_PAGE_SCHEMA)
    return _Page(table, token)


def _object_path(version: str, plural: str, namespace: str | None, name: str | None) -> str:
    if namespace:
        return f"/apis/{GROUP}/{version}/namespaces/{namespace}/{plural}/{name}"
    return f"/apis/{GROUP}/{version}/{plural}/{name}"


def _status_message(body: bytes) -> str:
    """The `message` of a Kubernetes Status body, or the start of whatever came back."""
    try:
        document = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").replace("\n", " ")
    if isinstance(document, dict) and document.get("message"):
        return str(document["message"]).replace("\n", " ")
    return body[:200].decode("utf-8", "replace").replace("\n", " ")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return float(value) if value else None
    except ValueError:
        return None
