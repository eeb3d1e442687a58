"""A Tekton Results client over gRPC or REST that hands out record pages as Arrow tables.

`ResultsClient(config).list_record_pages(...)` yields pages in `etl.sources.SOURCE_PAGE_SCHEMA` without parsing the
records' JSON (gRPC carries `data.value` as raw bytes; REST needs only the page JSON decoded and base64 undone).
Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, HTTP 429/502/503/504, connection resets)
are retried with exponential backoff and jitter, resuming from the page token of the last page received, so a page
is never yielded twice nor skipped. Everything the user can fix surfaces as one-line `etl.errors` exceptions that
never contain the token. No Dagster and no DuckDB here: the raw layer owns storage.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import grpc
import pyarrow as pa
import pyarrow.compute as pc
import requests
from google.protobuf import json_format

from etl.config import ClusterConfig
from etl.errors import AuthError, ConfigError, SourceError
from etl.sources import SOURCE_PAGE_SCHEMA, data_column
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, api_pb2_grpc, resources_pb2

log = logging.getLogger(__name__)

API_PREFIX = "/apis/results.tekton.dev/v1alpha2/parents/"
DEFAULT_SUMMARY = "total,succeeded,failed,cancelled,running,others"
# The fields our pages need; added to any `fields` mask so a partial response still fills SOURCE_PAGE_SCHEMA.
PAGE_FIELDS = ("records.name", "records.data.type", "records.update_time", "next_page_token")
RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
RETRYABLE_HTTP = {429, 502, 503, 504}
RBAC_HINT = (
    "check the token, and RBAC: get/list on results.tekton.dev 'results' and 'records' in that namespace "
    "('-' needs them cluster-wide)"
)
T = TypeVar("T")


class ResultsApiError(SourceError):
    """The server refused a request (bad argument, missing object, conflict); `code` is the gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Transient(Exception):
    """A failure worth retrying; `reason` is a one-line description for the final error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResultsClientConfig:
    """How to reach one Tekton Results API.

    url: `host:port` for gRPC (an `https://`/`http://` prefix is accepted and stripped), or the base URL for REST
    (`https://host:port`; `api_path` is a reverse-proxy prefix inserted before `/apis/...`).
    Token sources, first that is set wins: `token_file` (re-read on every call, so rotated projected
    ServiceAccount tokens work), `token`, then the current kubeconfig user's token when `use_kubeconfig_token`.
    TLS: verify against `ca_file` (system roots when None); `insecure_skip_tls_verify` trusts whatever
    certificate the server presents; `plaintext` disables TLS (only when asked).
    """

    url: str
    transport: Literal["grpc", "rest"] = "grpc"
    token: str | None = None
    token_file: str | None = None
    use_kubeconfig_token: bool = False
    kubeconfig: str | None = None
    kube_context: str | None = None
    ca_file: str | None = None
    insecure_skip_tls_verify: bool = False
    plaintext: bool = False
    api_path: str = ""
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 20.0
    max_message_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_source(cls, cluster: ClusterConfig) -> ResultsClientConfig:
        """Build the config from a cluster of the sources config (`etl.config.ResultsSource`)."""
        source = cluster.results
        if source is None:
            raise ConfigError(f"cluster {cluster.name!r} has no 'results' source configured")
        token, token_file = None, None
        if source.token is not None:
            if source.token.file:
                token_file = source.token.file
            else:
                token = source.token.read()
        return cls(
            url=source.url,
            transport=source.transport,
            token=token,
            token_file=token_file,
            use_kubeconfig_token=source.use_kubeconfig_token,
            ca_file=source.ca_file,
            insecure_skip_tls_verify=source.insecure_skip_tls_verify,
            plaintext=source.plaintext,
            api_path=source.api_path,
            timeout_s=source.timeout_s,
        )


def filter_for(
    kinds: Sequence[str] = ("PipelineRun", "TaskRun"),
    api_versions: Sequence[str] = ("v1", "v1beta1"),
    updated_after: datetime | None = None,
    namespace: str | None = None,
    namespaces: Sequence[str] = (),
) -> str:
    """A CEL filter the real server accepts, e.g.
    `(data_type == "tekton.dev/v1.PipelineRun" || ...) && update_time > timestamp("2026-01-01T00:00:00Z")`.
    """
    types = [f"tekton.dev/{version}.{kind}" for kind in kinds for version in api_versions]
    parts = []
    if types:
        parts.append("(" + " || ".join(f"data_type == {_cel_string(t)}" for t in types) + ")")
    if updated_after is not None:
        if updated_after.tzinfo is None:
            raise ConfigError("updated_after must be timezone-aware (UTC)")
        stamp = updated_after.astimezone(UTC).isoformat().replace("+00:00", "Z")
        parts.append(f"update_time > timestamp({_cel_string(stamp)})")
    wanted = [*([namespace] if namespace else []), *namespaces]
    if len(wanted) == 1:
        parts.append(f"data.metadata.namespace == {_cel_string(wanted[0])}")
    elif wanted:
        parts.append(f"data.metadata.namespace in [{', '.join(_cel_string(n) for n in wanted)}]")
    return " && ".join(parts)


def _cel_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_page_fields(fields: str | None) -> str | None:
    if not fields:
        return None
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return ",".join(dict.fromkeys([*wanted, *PAGE_FIELDS]))


# ---------------------------------------------------------------------------------------------------------------
# Transports: each turns one API call into a value or raises _Transient / a one-line SourceError.
# ---------------------------------------------------------------------------------------------------------------


def _grpc_target(url: str) -> tuple[str, str, int]:
    """`host:port` (and the host and port apart) from `url`, which may carry an http(s):// prefix."""
    text = url.split("://", 1)[1] if "://" in url else url
    text = text.rstrip("/")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Tekton Results url {url!r} must be host:port for gRPC (e.g. localhost:8080)")
    return text, host.strip("[]"), int(port)


def _fetch_server_certificate(host: str, port: int, timeout: float) -> tuple[bytes, str | None]:
    """The server's leaf certificate (unverified) and a DNS name it is valid for, for insecure-skip mode."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError as exc:
        raise SourceError(
            f"cannot reach Tekton Results at {host}:{port} to fetch its certificate ({exc.__class__.__name__}): "
            "check the address and that the server is up"
        ) from None
    if der is None:
        raise SourceError(f"Tekton Results at {host}:{port} presented no TLS certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode(), _certificate_name(der)


def _certificate_name(der: bytes) -> str | None:
    """First DNS SAN, else the CN, so gRPC's hostname check passes against the fetched certificate."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
        if dns:
            return dns[0]
        ips = names.get_values_for_type(x509.IPAddress)
        if ips:
            return str(ips[0])
    except x509.ExtensionNotFound:
        pass
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else None


def _timestamp_us(ts: Any) -> int | None:
    seconds, nanos = ts.seconds, ts.nanos
    if not seconds and not nanos:
        return None
    return seconds * 1_000_000 + nanos // 1000


class _GrpcTransport:
    def __init__(self, config: ResultsClientConfig, token: Callable[[], str | None]) -> None:
        self.config = config
        self._token = token
        self.target, host, port = _grpc_target(config.url)
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ]
        if config.plaintext:
            self.channel = grpc.insecure_channel(self.target, options=options)
        else:
            roots = Path(config.ca_file).read_bytes() if config.ca_file else None
            if config.insecure_skip_tls_verify:
                # grpcio has no "skip verification" switch: trust the exact certificate the server presents instead.
                roots, name = _fetch_server_certificate(host, port, config.timeout_s)
                if name:
                    options.append(("grpc.ssl_target_name_override", name))
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self.channel = grpc.secure_channel(self.target, credentials, options=options)
        self.stub = api_pb2_grpc.ResultsStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _metadata(self, fields: str | None = None) -> list[tuple[str, str]]:
        metadata = []
        token = self._token()
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if fields:
            metadata.append(("fields", fields))
        return metadata

    def _call(self, method: Callable[..., T], request: Any, fields: str | None = None) -> T:
        try:
            return method(request, metadata=self._metadata(fields), timeout=self.config.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> Exception:
        code, details = exc.code(), (exc.details() or "").splitlines()[0] if exc.details() else ""
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return AuthError(f"Tekton Results at {self.target} rejected the request ({details}): {RBAC_HINT}")
        if code == grpc.StatusCode.UNAVAILABLE and _is_tls_failure(details):
            return SourceError(
                f"TLS handshake with Tekton Results at {self.target} failed: set ca_file to the server's CA bundle, "
                "or insecure_skip_tls_verify: true (or plaintext: true if the server has no TLS)"
            )
        if code in RETRYABLE_GRPC:
            return _Transient(f"{code.name}: {details}")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ResultsApiError(code.name, f"Tekton Results rejected the request: {details}")
        return ResultsApiError(code.name, f"Tekton Results at {self.target} answered {code.name}: {details}")

    def list_records(
        self, parent: str, filter_: str, order_by: str, page_size: int, page_token: str, fields: str | None
    ) -> tuple[pa.Table, str]:
        request = api_pb2.ListRecordsRequest(
            parent=parent, filter=filter_, order_by=order_by, page_size=page_size, page_token=page_token
        )
        response = self._call(self.stub.ListRecords, request, fields)
        return _page_from_protos(response.records), response.next_page_token

    def summary(self, request: api_pb2.RecordListSummaryRequest) -> list[dict[str, Any]]:
        response = self._call(self.stub.GetRecordListSummary, request)
        return [json_format.MessageToDict(item) for item in response.summary]

    def get_record(self, name: str) -> resources_pb2.Record:
        return self._call(self.stub.GetRecord, api_pb2.GetRecordRequest(name=name))

    def create_result(self, parent: str, result: resources_pb2.Result) -> resources_pb2.Result:
        return self._call(self.stub.CreateResult, api_pb2.CreateResultRequest(parent=parent, result=result))

    def create_record(self, parent: str, record: resources_pb2.Record) -> resources_pb2.Record:
        return self._call(self.stub.CreateRecord, api_pb2.CreateRecordRequest(parent=parent, record=record))

    def update_record(self, record: resources_pb2.Record, etag: str) -> resources_pb2.Record:
        return self._call(self.stub.UpdateRecord, api_pb2.UpdateRecordRequest(record=record, etag=etag))

    def delete_record(self, name: str) -> None:
        self._call(self.stub.DeleteRecord, api_pb2.DeleteRecordRequest(name=name))


def _is_tls_failure(details: str) -> bool:
    text = details.lower()
    return any(word in text for word in ("handshake", "certificate", "ssl", "tls"))


def _page_from_protos(records: Sequence[resources_pb2.Record]) -> pa.Table:
    """Arrow columns straight from the protos: no JSON parsing of `data.value` on the hot path."""
    names, types, times, values = [], [], [], []
    for record in records:
        data = record.data
        names.append(record.name)
        types.append(data.type or None)
        times.append(_timestamp_us(record.update_time))
        values.append(data.value)
    return pa.Table.from_arrays(
        [
            pa.array(names, pa.string()),
            pa.array(types, pa.string()),
            pa.array(times, pa.timestamp("us", tz="UTC")),
            data_column(values),
        ],
        schema=SOURCE_PAGE_SCHEMA,
    )


class _RestTransport:
    def __init__(self, config: ResultsClientConfig, token: Callable[[], str | None]) -> None:
        self.config = config
        self._token = token
        url = (
            config.url if "://" in config.url else f"{'http' if config.plaintext else 'https'}://{config.url}"
        )
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigError(f"Tekton Results url {config.url!r} must be an http(s) URL for REST")
        scheme = "http" if config.plaintext else parts.scheme
        prefix = "/" + "/".join(p for p in (parts.path.strip("/"), config.api_path.strip("/")) if p)
        self.origin = f"{scheme}://{parts.netloc}"
        self.base = f"{self.origin}{prefix.rstrip('/')}{API_PREFIX}"
        self.session = requests.Session()
        # Passed on every request: a Session-level `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self._verify: bool | str = config.ca_file or True
        if scheme == "https" and config.insecure_skip_tls_verify:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            self._verify = False

    def close(self) -> None:
        self.session.close()

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session.request(
                method,
                self.base + path,
                params=params,
                json=body,
                headers=headers,
                timeout=self.config.timeout_s,
                verify=self._verify,
            )
        except requests.exceptions.SSLError:
            raise SourceError(
                f"TLS handshake with Tekton Results at {self.origin} failed: set ca_file to the server's CA bundle, "
                "or insecure_skip_tls_verify: true"
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"{exc.__class__.__name__} talking to {self.origin}") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise _Transient(f"truncated JSON answer from {self.origin}") from None
        raise self._error(response)

    def _error(self, response: requests.Response) -> Exception:
        try:
            body = response.json()
            message = str(body.get("message", "")).splitlines()[0] if body.get("message") else ""
        except ValueError:
            message = (
                response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason
            )
        status = response.status_code
        if status == 401:
            return AuthError(f"Tekton Results at {self.origin} rejected the request ({message}): {RBAC_HINT}")
        if status in RETRYABLE_HTTP:
            return _Transient(f"HTTP {status}: {message}")
        if status == 400:
            return ResultsApiError("INVALID_ARGUMENT", f"Tekton Results rejected the request: {message}")
        if status == 404 and message in ("", "Not Found"):
            return ResultsApiError(
                "NOT_FOUND", f"no Tekton Results API under {self.base}: check the url and api_path"
            )
        code = {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 403: "PERMISSION_DENIED"}.get(
            status, f"HTTP_{status}"
        )
        return ResultsApiError(code, f"Tekton Results at {self.origin} answered HTTP {status}: {message}")

    def list_records(
        self, parent: str, filter_: str, order_by: str, page_size: int, page_token: str, fields: str | None
    ) -> tuple[pa.Table, str]:
        params = {"page_size": page_size, "order_by": order_by, "filter": filter_, "page_token": page_token}
        if fields:
            params["fields"] = fields
        body = self._request("GET", f"{parent}/records", {k: v for k, v in params.items() if v != ""})
        token = body.get("next_page_token") or body.get("nextPageToken") or ""
        return _page_from_json(body.get("records") or []), token

    def summary(self, request: api_pb2.RecordListSummaryRequest) -> list[dict[str, Any]]:
        params = {"summary": request.summary, "filter": request.filter, "group_by": request.group_by}
        params["order_by"] = request.order_by
        body = self._request(
            "GET", f"{request.parent}/records/summary", {k: v for k, v in params.items() if v}
        )
        return list(body.get("summary") or [])

    def get_record(self, name: str) -> resources_pb2.Record:
        return _parse(self._request("GET", name), resources_pb2.Record())

    def create_result(self, parent: str, result: resources_pb2.Result) -> resources_pb2.Result:
        body = json_format.MessageToDict(result, preserving_proto_field_name=True)
        return _parse(self._request("POST", f"{parent}/results", body=body), resources_pb2.Result())

    def create_record(self, parent: str, record: resources_pb2.Record) -> resources_pb2.Record:
        body = json_format.MessageToDict(record, preserving_proto_field_name=True)
        return _parse(self._request("POST", f"{parent}/records", body=body), resources_pb2.Record())

    def update_record(self, record: resources_pb2.Record, etag: str) -> resources_pb2.Record:
        body = json_format.MessageToDict(record, preserving_proto_field_name=True)
        if etag:
            body["etag"] = etag
        return _parse(self._request("PATCH", record.name, body=body), resources_pb2.Record())

    def delete_record(self, name: str) -> None:
        self._request("DELETE", name)


def _parse(body: dict[str, Any], message: T) -> T:
    """Both JSON casings: protobuf's parser accepts proto names and lowerCamelCase JSON names."""
    return json_format.ParseDict(body, message, ignore_unknown_fields=True)  # type: ignore[arg-type]


def _page_from_json(records: list[dict[str, Any]]) -> pa.Table:
    names, types, times, values = [], [], [], []
    for record in records:
        data = record.get("data") or {}
        names.append(record.get("name"))
        types.append(data.get("type") or None)
        times.append(record.get("update_time") or record.get("updateTime"))
        values.append(base64.b64decode(data.get("value") or ""))
    stamps = pc.cast(
        pc.cast(pa.array(times, pa.string()), pa.timestamp("ns", tz="UTC")), SOURCE_PAGE_SCHEMA[2].type
    )
    return pa.Table.from_arrays(
        [pa.array(names, pa.string()), pa.array(types, pa.string()), stamps, data_column(values)],
        schema=SOURCE_PAGE_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------------------------


class ResultsClient:
    """Talks to one Tekton Results API. Not thread-safe; use one per thread. Close it (or use `with`)."""

    def __init__(self, config: ResultsClientConfig) -> None:
        self.config = config
        self._kubeconfig_token: str | None = None
        if config.use_kubeconfig_token and not (config.token or config.token_file):
            self._kubeconfig_token = _kubeconfig_token(config.kubeconfig, config.kube_context)
        transport = _GrpcTransport if config.transport == "grpc" else _RestTransport
        if config.transport not in ("grpc", "rest"):
            raise ConfigError(f"transport must be 'grpc' or 'rest', not {config.transport!r}")
        self._transport: _GrpcTransport | _RestTransport = transport(config, self._token)
        self.last_page_token = ""
        self.next_page_token = ""
        self.retries = 0

    def __enter__(self) -> ResultsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def _token(self) -> str | None:
        if self.config.token_file:
            try:
                return Path(self.config.token_file).expanduser().read_text().strip() or None
            except OSError as exc:
                raise AuthError(f"cannot read token file {self.config.token_file}: {exc.strerror}") from None
        return self.config.token or self._kubeconfig_token

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except _Transient as exc:
                if attempt >= self.config.max_retries:
                    raise SourceError(
                        f"Tekton Results at {self.config.url} kept failing ({exc.reason}) after "
                        f"{attempt + 1} attempts of {what}: check the address, that the server is up and reachable, "
                        "and the TLS settings"
                    ) from None
                delay = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2**attempt)
                delay *= random.uniform(0.5, 1.0)
                log.info("%s failed (%s); retry %d in %.1fs", what, exc.reason, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1
                self.retries += 1

    def list_record_pages(
        self,
        parent: str = "-/results/-",
        filter: str = "",
        order_by: str = "update_time asc",
        page_size: int = 1000,
        fields: str | None = None,
        page_token: str = "",
    ) -> Iterator[pa.Table]:
        """Pages of records in `SOURCE_PAGE_SCHEMA`, following next_page_token until the end.

        parent/filter/order_by are sent byte-identical on every page (the server binds its tokens to them).
        While iterating, `last_page_token` is the token that fetched the page just yielded ("" for the first),
        and `next_page_token` the one for the page after it; pass either as `page_token` to resume.
        `fields` is an AIP-157 mask (e.g. "records.data.value.metadata,records.data.value.status"); the fields
        the page schema needs are always added.
        """
        mask = _with_page_fields(fields)
        token = page_token
        while True:
            current = token
            page, token = self._with_retries(
                "ListRecords",
                lambda current=current: self._transport.list_records(
                    parent, filter, order_by, page_size, current, mask
                ),
            )
            self.last_page_token, self.next_page_token = current, token
            yield page
            if not token:
                return

    def record_list_summary(
        self,
        parent: str,
        summary: str = DEFAULT_SUMMARY,
        filter: str = "",
        group_by: str = "namespace",
        order_by: str = "",
    ) -> list[dict[str, Any]]:
        """GetRecordListSummary: one dict per group (`group_value` plus the requested aggregations).

        `summary` is always sent: the real server fails an empty one. Counts come back as numbers, durations as
        Postgres interval text ("00:01:16.21875").
        """
        if not summary.strip():
            raise ConfigError("summary must name at least one aggregation, e.g. 'total'")
        request = api_pb2.RecordListSummaryRequest(
            parent=parent, summary=summary, filter=filter, group_by=group_by, order_by=order_by
        )
        return self._with_retries("GetRecordListSummary", lambda: self._transport.summary(request))

    def get_record(self, name: str) -> resources_pb2.Record:
        return self._with_retries("GetRecord", lambda: self._transport.get_record(name))

    def create_result(self, name: str, annotations: dict[str, str] | None = None) -> resources_pb2.Result:
        """Create `<parent>/results/<result>` (the parent is taken from the name)."""
        result = resources_pb2.Result(name=name, annotations=annotations or {})
        return self._with_retries(
            "CreateResult", lambda: self._transport.create_result(name.split("/")[0], result)
        )

    def create_record(self, name: str, data_type: str, data: bytes | dict[str, Any]) -> resources_pb2.Record:
        """Create `<parent>/results/<result>/records/<record>` holding `data` (JSON bytes or a dict)."""
        record = resources_pb2.Record(
            name=name, data=resources_pb2.Any(type=data_type, value=_json_bytes(data))
        )
        parent = name.rsplit("/records/", 1)[0]
        return self._with_retries("CreateRecord", lambda: self._transport.create_record(parent, record))

    def update_record(
        self, name: str, data: bytes | dict[str, Any], data_type: str = "", etag: str = ""
    ) -> resources_pb2.Record:
        """Replace a record's data (and type, if given); with `etag`, fail unless the record is unchanged."""
        record = resources_pb2.Record(
            name=name, data=resources_pb2.Any(type=data_type, value=_json_bytes(data))
        )
        return self._with_retries("UpdateRecord", lambda: self._transport.update_record(record, etag))

    def delete_record(self, name: str) -> None:
        self._with_retries("DeleteRecord", lambda: self._transport.delete_record(name))


def _json_bytes(data: bytes | dict[str, Any]) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()


def _kubeconfig_token(kubeconfig: str | None, context: str | None) -> str:
    """The bearer token of the current (or named) kubeconfig context's user."""
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config

    configuration = kube_client.Configuration()
    try:
        kube_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except Exception as exc:
        raise ConfigError(f"cannot load kubeconfig for a Results token: {str(exc).splitlines()[0]}") from None
    header = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken") or ""
    token = header.removeprefix("Bearer ").strip()
    if not token:
        raise AuthError(
            "the current kubeconfig user has no bearer token: set token or token_file for Results"
        )
    return token
