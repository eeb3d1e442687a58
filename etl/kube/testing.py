"""A local Kubernetes API server for Tekton runs, for tests, demos and benchmarks (no cluster can run here).

It is a real HTTP(S) server on a loopback port that answers the parts of the Kubernetes API the warehouse uses, the
way kube-apiserver does: discovery (`/api`, `/apis`, `/apis/tekton.dev`, `/apis/tekton.dev/<version>`), and chunked
lists of `tekton.dev` PipelineRuns and TaskRuns, cluster-wide or per namespace, with `limit` / `continue`,
`metadata.resourceVersion`, `Status` bodies for 401 / 403 / 404 / 410, bearer-token authentication and per-namespace
authorisation. Objects are kept in key order (namespace, name) like etcd, so pages are stable.

What it does not do: convert object bodies between API versions (every object is served, as handed in, under every
served version, so tests hand in objects of the version they serve), keep list snapshots, watch, or write.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

GROUP = "tekton.dev"
PLURAL_OF_KIND = {"PipelineRun": "pipelineruns", "TaskRun": "taskruns"}
KIND_OF_PLURAL = {plural: kind for kind, plural in PLURAL_OF_KIND.items()}

EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True)
class Identity:
    """Who a bearer token belongs to and where it may list Tekton runs (`namespaces=None`: cluster-wide)."""

    user: str
    namespaces: frozenset[str] | None = None

    def may_list(self, namespace: str | None) -> bool:
        if self.namespaces is None:
            return True
        return namespace is not None and namespace in self.namespaces


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS server: the CA that signed it (what a kubeconfig names) and the server's cert and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    authorization: str | None


@dataclass
class _ExpiryPlan:
    after_pages: int = 0
    remaining: int = 0


@dataclass
class _State:
    """Everything the request handlers read; guarded by `lock`."""

    # plural -> {"<namespace>/<name>": object}, and each plural's keys in string order, as etcd keeps them.
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)
    resource_version: int = 0
    expiry: _ExpiryPlan = field(default_factory=_ExpiryPlan)
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeKubeApiServer:
    """A Kubernetes API server for Tekton PipelineRuns and TaskRuns on 127.0.0.1 (HTTP, or HTTPS with `tls`).

    `tokens` maps each accepted bearer token to its `Identity`; any other token gets 401. `served_versions` is what
    discovery announces and what lists answer (`("v1beta1",)` plays an old Tekton). With `items_carry_type=False`
    list items lack `apiVersion`/`kind`, as some servers send them.
    """

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        *,
        tokens: Mapping[str, Identity] | None = None,
        served_versions: tuple[str, ...] = ("v1", "v1beta1"),
        items_carry_type: bool = True,
        tls: TlsFiles | None = None,
    ) -> None:
        self.tokens = dict(tokens) if tokens is not None else {"test-token": Identity("test-user")}
        self.served_versions = served_versions
        self.items_carry_type = items_carry_type
        self.tls = tls
        self._state = _State()
        self.add_objects(objects)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- data ---------------------------------------------------------------------------------------------------

    def add_objects(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Store (or replace) objects; each gets the next resourceVersion, as a write to the API would."""
        with self._state.lock:
            for obj in objects:
                stored = json.loads(json.dumps(obj))
                plural = PLURAL_OF_KIND[stored["kind"]]
                metadata = stored.setdefault("metadata", {})
                self._state.resource_version += 1
                metadata["resourceVersion"] = str(self._state.resource_version)
                key = f"{metadata['namespace']}/{metadata['name']}"
                stored_of_plural = self._state.objects.setdefault(plural, {})
                if key not in stored_of_plural:
                    bisect.insort(self._state.order.setdefault(plural, []), key)
                stored_of_plural[key] = stored

    def load_ndjson(self, path: Path) -> int:
        """Add the PipelineRuns and TaskRuns of a generator `objects.ndjson`; returns how many were added."""
        with path.open("rb") as lines:
            wanted = (json.loads(line) for line in lines if line.strip())
            runs = [obj for obj in wanted if obj.get("kind") in PLURAL_OF_KIND]
        self.add_objects(runs)
        return len(runs)

    def expire_continue_tokens(self, *, after_pages: int, times: int = 1) -> None:
        """Answer 410 Gone to the next `times` requests that present a continue token from page `after_pages` on."""
        with self._state.lock:
            self._state.expiry = _ExpiryPlan(after_pages=after_pages, remaining=times)

    def fail_requests(self, *, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` /apis requests with `status` (e.g. 503, 429), as an overloaded server does."""
        with self._state.lock:
            self._state.failures = [status] * times

    def _injected_failure(self) -> tuple[int, dict] | None:
        with self._state.lock:
            if not self._state.failures:
                return None
            status = self._state.failures.pop(0)
        return status, _status(
            status, "ServiceUnavailable", "injected failure: the server is busy, try again"
        )

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    def start(self) -> FakeKubeApiServer:
        """Start serving (once: `with server.start():` does not start a second copy)."""
        if self._httpd is not None:
            return self
        handler = _handler_class(self)
        self._httpd = _Server(("127.0.0.1", 0), handler, self._ssl_context())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-kube-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeKubeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
        return context

    # -- API ----------------------------------------------------------------------------------------------------

    def handle_get(self, path: str, query: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        """Answer one GET: (HTTP status, JSON body)."""
        with self._state.lock:
            self._state.requests.append(RecordedRequest(path, query, authorization))
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:  # public, as with the system:public-info-viewer role
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake", "platform": "linux/amd64"}
        identity = self._authenticate(authorization)
        if identity is None:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        if parts and parts[0] == "apis" and (failure := self._injected_failure()) is not None:
            return failure
        discovery = self._discovery(parts)
        if discovery is not None:
            return discovery
        return self._list(parts, query, identity)

    def _authenticate(self, authorization: str | None) -> Identity | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        return self.tokens.get(authorization[len("bearer ") :].strip())

    def _discovery(self, parts: list[str]) -> tuple[int, dict] | None:
        port = self.port
        if parts == ["api"]:
            address = {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [address]}
        if parts == ["api", "v1"]:
            return 200, _core_resources()
        if parts == ["apis"]:
            groups = [self._group()] if self.served_versions else []
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if parts == ["apis", GROUP]:
            if not self.served_versions:
                return _not_found()
            return 200, {"kind": "APIGroup", "apiVersion": "v1", **self._group()}
        if len(parts) == 3 and parts[:2] == ["apis", GROUP]:
            if parts[2] not in self.served_versions:
                return _not_found()
            return 200, _tekton_resources(parts[2])
        return None

    def _group(self) -> dict[str, Any]:
        versions = [{"groupVersion": f"{GROUP}/{v}", "version": v} for v in self.served_versions]
        return {"name": GROUP, "versions": versions, "preferredVersion": versions[0]}

    def _list(self, parts: list[str], query: dict[str, str], identity: Identity) -> tuple[int, dict]:
        target = _parse_list_path(parts)
        if target is None or target[0] not in self.served_versions:
            return _not_found()
        version, namespace, plural = target
        if not identity.may_list(namespace):
            return 403, _forbidden(identity.user, plural, namespace)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, _status(400, "BadRequest", f"invalid limit {query['limit']!r}")
        token = query.get("continue")
        return self._list_page(version, namespace, plural, limit, token, "/" + "/".join(parts))

    def _list_page(
        self, version: str, namespace: str | None, plural: str, limit: int, token: str | None, path: str
    ) -> tuple[int, dict]:
        with self._state.lock:
            start_after, page_number = "", 0
            if token:
                decoded = _decode_continue(token, path)
                if decoded is None:
                    return 400, _status(400, "BadRequest", "continue key is not valid: bad token")
                start_after, page_number = decoded
                expiry = self._state.expiry
                if expiry.remaining > 0 and page_number >= expiry.after_pages:
                    expiry.remaining -= 1
                    return 410, _status(410, "Expired", EXPIRED_CONTINUE_MESSAGE)
            begin, end = self._scope_after(plural, namespace, start_after)
            chosen = self._state.order.get(plural, [])[begin : min(end, begin + limit) if limit > 0 else end]
            stored = self._state.objects.get(plural, {})
            items = [self._item(stored[k]) for k in chosen]
            metadata: dict[str, Any] = {"resourceVersion": str(self._state.resource_version)}
            remaining = end - begin - len(chosen)
            if remaining > 0:
                metadata["continue"] = _encode_continue(
                    chosen[-1], page_number + 1, path, self._state.resource_version
                )
                metadata["remainingItemCount"] = remaining
        kind = KIND_OF_PLURAL[plural]
        return 200, {
            "apiVersion": f"{GROUP}/{version}",
            "kind": f"{kind}List",
            "metadata": metadata,
            "items": items,
        }

    def _scope_after(self, plural: str, namespace: str | None, start_after: str) -> tuple[int, int]:
        """Index range, in the plural's key order, of the list's scope after `start_after` (lock held)."""
        order = self._state.order.get(plural, [])
        prefix = f"{namespace}/" if namespace else ""
        if start_after:
            begin = bisect.bisect_right(order, max(start_after, prefix))
        else:
            begin = bisect.bisect_left(order, prefix)
        # Every "<namespace>/..." key sorts before "<namespace>0": "0" is the character after "/".
        end = bisect.bisect_left(order, f"{namespace}0") if namespace else len(order)
        return begin, end

    def _item(self, stored: dict[str, Any]) -> dict[str, Any]:
        if self.items_carry_type:
            return stored
        return {k: v for k, v in stored.items() if k not in ("apiVersion", "kind")}


# ----------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# ----------------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext | None) -> None:
        self.ssl_context = context
        super().__init__(address, handler)

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake runs in the connection's own thread (Handler.setup), not in the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # Clients that reject our certificate or hang up are part of the tests; stay quiet about them.
        pass


def _handler_class(api: FakeKubeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().setup()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            try:
                status, body = api.handle_get(url.path, query, self.headers.get("Authorization"))
            except Exception as exc:  # a bug in this fake must show as a 500, not as a dropped connection
                status, body = 500, _status(500, "InternalError", f"fake API server failed: {exc!r}")
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# ----------------------------------------------------------------------------------------------------------------
# Bodies
# ----------------------------------------------------------------------------------------------------------------


def _status(code: int, reason: str, message: str, **metadata: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": dict(metadata),
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _not_found() -> tuple[int, dict]:
    return 404, _status(404, "NotFound", "the server could not find the requested resource")


def _forbidden(user: str, plural: str, namespace: str | None) -> dict[str, Any]:
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = f'{plural}.{GROUP} is forbidden: User "{user}" cannot list resource "{plural}" in API group "{GROUP}" {where}'
    body = _status(403, "Forbidden", message)
    body["details"] = {"group": GROUP, "kind": plural}
    return body


def _parse_list_path(parts: list[str]) -> tuple[str, str | None, str] | None:
    """(version, namespace or None, plural) for a Tekton list path, else None."""
    if len(parts) == 4 and parts[:2] == ["apis", GROUP] and parts[3] in KIND_OF_PLURAL:
        return parts[2], None, parts[3]
    if (
        len(parts) == 6
        and parts[:2] == ["apis", GROUP]
        and parts[3] == "namespaces"
        and parts[5] in KIND_OF_PLURAL
    ):
        return parts[2], parts[4], parts[5]
    return None


def _encode_continue(start_after: str, page_number: int, path: str, resource_version: int) -> str:
    # The real token is base64 JSON {"v", "rv", "start"}; "page" and "path" are this fake's own additions.
    token = {
        "v": "meta.k8s.io/v1",
        "rv": resource_version,
        "start": start_after + "\x00",
        "page": page_number,
    }
    token["path"] = path
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str, path: str) -> tuple[str, int] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        start, page_number, token_path = decoded["start"], int(decoded["page"]), decoded["path"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if token_path != path or not start.endswith("\x00"):
        return None
    return start[:-1], page_number


def _core_resources() -> dict[str, Any]:
    namespaces = {
        "name": "namespaces",
        "singularName": "namespace",
        "namespaced": False,
        "kind": "Namespace",
        "verbs": ["get", "list"],
        "shortNames": ["ns"],
    }
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [namespaces]}


def _tekton_resources(version: str) -> dict[str, Any]:
    verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
    resources = [
        {
            "name": plural,
            "singularName": plural[:-1],
            "namespaced": True,
            "kind": kind,
            "verbs": verbs,
            "categories": ["tekton", "tekton-pipelines"],
        }
        for kind, plural in PLURAL_OF_KIND.items()
    ]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{version}",
        "resources": resources,
    }


# ----------------------------------------------------------------------------------------------------------------
# Certificates and kubeconfig files
# ----------------------------------------------------------------------------------------------------------------


def make_tls_files(directory: Path, *, common_name: str = "fake-kube-ca") -> TlsFiles:
    """A fresh CA and a server certificate it signed for 127.0.0.1 / localhost, as PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(x509, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(x509, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def _key_usage(x509: Any, *, cert_sign: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def write_kubeconfig(
    path: Path,
    server_url: str,
    token: str,
    *,
    context: str = "fake",
    ca_file: Path | None = None,
    insecure_skip_tls_verify: bool = False,
    extra_contexts: Iterable[str] = (),
) -> Path:
    """Write a kubeconfig whose context `context` (the current one) reaches `server_url` with bearer `token`.

    `extra_contexts` adds more contexts on the same cluster and user, to test choosing one that is not current.
    """
    cluster: dict[str, Any] = {"server": server_url}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    if insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    # Cluster and user entries are named after the context so that several files merge (KUBECONFIG=a:b) cleanly.
    cluster_name, user_name = f"{context}-cluster", f"{context}-user"
    contexts = [
        {"name": name, "context": {"cluster": cluster_name, "user": user_name}}
        for name in (context, *extra_contexts)
    ]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user_name, "user": {"token": token}}],
        "contexts": contexts,
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
