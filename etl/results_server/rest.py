"""The REST (grpc-gateway) face of the local Results server.

Routes and JSON follow grpc-gateway as the real server configures it (tekton-results-api.md §2): proto field names,
empty fields omitted, base64 `bytes`, error body `{code, message}`, HTTP status by gRPC code, 401 with
`WWW-Authenticate`. `legacy_camelcase=True` answers like releases before v0.15 (lowerCamelCase, empty fields
emitted) so clients can be tested against both.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from etl.results_server.api import ApiError, ConnectionCut, ResultsApi
from etl.results_server.partial import apply_fields
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, resources_pb2

PREFIX = "/apis/results.tekton.dev/v1alpha2/parents/"
SEG = r"([^/]+)"

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

Handler = Callable[["RestHandler", tuple[str, ...], dict[str, str]], Message | None]


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def _int(query: dict[str, str], key: str) -> int:
    try:
        return int(query.get(key) or 0)
    except ValueError:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{key} must be an integer") from None


def _list_records(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    req = api_pb2.ListRecordsRequest(
        parent=f"{groups[0]}/results/{groups[1]}",
        filter=q.get("filter", ""),
        page_size=_int(q, "page_size"),
        page_token=q.get("page_token", ""),
        order_by=q.get("order_by", ""),
    )
    return h.api.list_records(req)


def _summary(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    req = api_pb2.RecordListSummaryRequest(
        parent=f"{groups[0]}/results/{groups[1]}",
        summary=q.get("summary", ""),
        filter=q.get("filter", ""),
        group_by=q.get("group_by", ""),
        order_by=q.get("order_by", ""),
    )
    return h.api.record_list_summary(req)


def _list_results(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    req = api_pb2.ListResultsRequest(
        parent=groups[0],
        filter=q.get("filter", ""),
        page_size=_int(q, "page_size"),
        page_token=q.get("page_token", ""),
        order_by=q.get("order_by", ""),
    )
    return h.api.list_results(req)


def _create_result(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    result = h.body(resources_pb2.Result())
    return h.api.create_result(api_pb2.CreateResultRequest(parent=groups[0], result=result))


def _update_result(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    result = h.body(resources_pb2.Result())
    name = f"{groups[0]}/results/{groups[1]}"
    result.name = name
    return h.api.update_result(api_pb2.UpdateResultRequest(name=name, result=result, etag=q.get("etag", "")))


def _create_record(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    record = h.body(resources_pb2.Record())
    return h.api.create_record(
        api_pb2.CreateRecordRequest(parent=f"{groups[0]}/results/{groups[1]}", record=record)
    )


def _update_record(h: RestHandler, groups: tuple[str, ...], q: dict[str, str]) -> Message:
    record = h.body(resources_pb2.Record())
    record.name = "/".join((groups[0], "results", groups[1], "records", groups[2]))
    return h.api.update_record(
        api_pb2.UpdateRecordRequest(record=record, etag=q.get("etag", "") or record.etag)
    )


def _record_name(groups: tuple[str, ...]) -> str:
    return f"{groups[0]}/results/{groups[1]}/records/{groups[2]}"


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(f"{SEG}/results/{SEG}/records/summary"), _summary),
    ("GET", re.compile(f"{SEG}/results/{SEG}/records"), _list_records),
    ("POST", re.compile(f"{SEG}/results/{SEG}/records"), _create_record),
    (
        "GET",
        re.compile(f"{SEG}/results/{SEG}/records/{SEG}"),
        lambda h, g, q: h.api.get_record(api_pb2.GetRecordRequest(name=_record_name(g))),
    ),
    ("PATCH", re.compile(f"{SEG}/results/{SEG}/records/{SEG}"), _update_record),
    (
        "DELETE",
        re.compile(f"{SEG}/results/{SEG}/records/{SEG}"),
        lambda h, g, q: h.api.delete_record(api_pb2.DeleteRecordRequest(name=_record_name(g))),
    ),
    ("GET", re.compile(f"{SEG}/results"), _list_results),
    ("POST", re.compile(f"{SEG}/results"), _create_result),
    (
        "GET",
        re.compile(f"{SEG}/results/{SEG}"),
        lambda h, g, q: h.api.get_result(api_pb2.GetResultRequest(name=f"{g[0]}/results/{g[1]}")),
    ),
    ("PATCH", re.compile(f"{SEG}/results/{SEG}"), _update_result),
    (
        "DELETE",
        re.compile(f"{SEG}/results/{SEG}"),
        lambda h, g, q: h.api.delete_result(api_pb2.DeleteResultRequest(name=f"{g[0]}/results/{g[1]}")),
    ),
]


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RestServer

    @property
    def api(self) -> ResultsApi:
        return self.server.api

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would flood test output (and could carry filters with user data)."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def body(self, message: Message) -> Message:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        self._body_read = True
        try:
            return json_format.Parse(raw or b"{}", message, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid JSON body: {exc}") from None

    def _dispatch(self, method: str) -> None:
        self._body_read = False
        url = urlsplit(self.path)
        query = {_snake(k): v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path
        if path.rstrip("/") == "/healthz":
            self._send(200, {"status": "SERVING"})
            return
        if not path.startswith(PREFIX):
            self._drain()
            self._send(404, {"code": 5, "message": "Not Found"})
            return
        rest = unquote(path[len(PREFIX) :])
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(rest)
            if match and route_method == method:
                self._run(handler, match.groups(), query)
                return
        self._drain()
        self._send(404 if method == "GET" else 501, {"code": 5, "message": "Not Found"})

    def _run(self, handler: Handler, groups: tuple[str, ...], query: dict[str, str]) -> None:
        try:
            self.api.begin(self.headers.get_all("Authorization") or [])
            response = handler(self, groups, query)
        except ApiError as exc:
            self._drain()
            self._error(exc)
            return
        except ConnectionCut:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if response is not None and query.get("fields"):
            response = apply_fields(response, query["fields"])
        self._send(200, self._json(response) if response is not None else {})

    def _drain(self) -> None:
        if not self._body_read and self.command in ("POST", "PATCH"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._body_read = True

    def _json(self, message: Message) -> dict[str, Any]:
        if self.server.legacy_camelcase:
            return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
        return json_format.MessageToDict(message, preserving_proto_field_name=True)

    def _error(self, exc: ApiError) -> None:
        body: dict[str, Any] = {"code": exc.code.value[0], "message": exc.message}
        if self.server.legacy_camelcase:
            body["details"] = []
        headers = (
            {"WWW-Authenticate": 'Bearer realm="tekton-results"'}
            if exc.code == grpc.StatusCode.UNAUTHENTICATED
            else {}
        )
        self._send(HTTP_STATUS.get(exc.code, 500), body, headers)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


class RestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: ResultsApi, legacy_camelcase: bool) -> None:
        self.api = api
        self.legacy_camelcase = legacy_camelcase
        super().__init__(address, RestHandler)
