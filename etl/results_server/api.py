"""The Results API's rules, shared by the gRPC servicer and the REST gateway.

Validation texts, page-size limits, page tokens bound to (parent, filter, order_by), the order_by grammar, name
regexes with `-` wildcards, etags and the summary buckets follow the real server (tekton-results-api.md §1.3, §2).
Every failure is an `ApiError` carrying the gRPC status code; the REST layer maps it to HTTP like grpc-gateway.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import struct_pb2

from etl.results_server import cel, wire
from etl.results_server.store import NAME_SEGMENT, Page, RecordRow, ResultRow, Store
from etl.results_server.wire import record_proto, timestamp_from_us
from etl.tekton_results.gen.tekton.results.lister import page_token_pb2
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, resources_pb2

Code = grpc.StatusCode

_SEG_OR_WILDCARD = f"(?:{NAME_SEGMENT}|-)"
RESULT_NAME_RE = re.compile(f"^({NAME_SEGMENT})/results/({NAME_SEGMENT})$")
RECORD_NAME_RE = re.compile(f"^({NAME_SEGMENT})/results/({NAME_SEGMENT})/records/({NAME_SEGMENT})$")
RECORD_PARENT_RE = re.compile(f"^({_SEG_OR_WILDCARD})/results/({_SEG_OR_WILDCARD})$")
RESULT_PARENT_RE = re.compile(f"^({_SEG_OR_WILDCARD})$")
ORDER_BY_RE = re.compile(r"^([\w\.]+)\s*(ASC|asc|DESC|desc)?$")
RECORD_ORDER_FIELDS = ("create_time", "update_time")
MAX_TYPE_LENGTH = 768
DEFAULT_PAGE_SIZE = 50
SUMMARY_KEYS = (
    "total",
    "succeeded",
    "failed",
    "cancelled",
    "running",
    "others",
    "avg_duration",
    "min_duration",
    "max_duration",
    "total_duration",
    "last_runtime",
)
TIME_GROUPS = ("minute", "hour", "day", "week", "month", "year")


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConnectionCut(Exception):
    """Fault injection: the transport must drop the connection instead of answering."""


@dataclass(frozen=True)
class Faults:
    """Deterministic fault injection for client tests.

    fail_rate: share of API calls answered UNAVAILABLE (seeded, so a test sees the same sequence every run).
    latency_ms: added to every API call. cut_after_records: every time this many more records have been served by
    ListRecords, the next ListRecords call has its connection cut instead of an answer.
    """

    fail_rate: float = 0.0
    seed: int = 0
    latency_ms: int = 0
    cut_after_records: int | None = None


class _FaultInjector:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._served_since_cut = 0
        self.injected_failures = 0
        self.cuts = 0

    def before_call(self) -> None:
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.faults.fail_rate:
            with self._lock:
                fail = self._random.random() < self.faults.fail_rate
                self.injected_failures += fail
            if fail:
                raise ApiError(Code.UNAVAILABLE, "injected fault: service unavailable, retry")

    def before_listing(self) -> None:
        limit = self.faults.cut_after_records
        with self._lock:
            if limit is not None and self._served_since_cut >= limit:
                self._served_since_cut = 0
                self.cuts += 1
                raise ConnectionCut()

    def served(self, count: int) -> None:
        with self._lock:
            self._served_since_cut += count


# ---------------------------------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------------------------------


def result_proto(row: ResultRow) -> resources_pb2.Result:
    created, updated = timestamp_from_us(row.create_us), timestamp_from_us(row.update_us)
    result = resources_pb2.Result(
        name=row.name,
        id=row.uid,
        uid=row.uid,
        etag=f"{row.uid}-{row.update_us * 1000}",
        created_time=created,
        create_time=created,
        updated_time=updated,
        update_time=updated,
        annotations=json.loads(row.annotations) if row.annotations else {},
    )
    if row.summary:
        result.summary.ParseFromString(base64.b64decode(json.loads(row.summary)))
    return result


# ---------------------------------------------------------------------------------------------------------------
# Page tokens
# ---------------------------------------------------------------------------------------------------------------


def encode_page_token(
    parent: str, filter_: str, uid: str, order: tuple[str, bool] | None, value_us: int
) -> str:
    item = page_token_pb2.Item(uid=uid)
    if order is not None:
        direction = page_token_pb2.Order.DESC if order[1] else page_token_pb2.Order.ASC
        item.order_by.CopyFrom(
            page_token_pb2.Order(field_name=order[0], value=timestamp_from_us(value_us), direction=direction)
        )
    token = page_token_pb2.PageToken(parent=parent, filter=filter_.strip(), last_item=item)
    return base64.urlsafe_b64encode(token.SerializeToString()).rstrip(b"=").decode()


def decode_page_token(
    token: str, parent: str, filter_: str, order: tuple[str, bool] | None
) -> tuple[str, int | None]:
    """The (uid, order value in µs) to continue after; INVALID_ARGUMENT unless bound to this same query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parsed = page_token_pb2.PageToken.FromString(raw)
    except Exception:  # base64 or protobuf decoding: either way the token is not one of ours
        raise ApiError(Code.INVALID_ARGUMENT, "invalid page token: cannot decode it") from None
    if parsed.parent != parent or parsed.filter != filter_.strip():
        raise ApiError(
            Code.INVALID_ARGUMENT, "invalid page token: parent or filter differ from the first request"
        )
    item = parsed.last_item
    token_order = None
    if item.HasField("order_by"):
        token_order = (item.order_by.field_name, item.order_by.direction == page_token_pb2.Order.DESC)
    if token_order != order or not item.uid:
        raise ApiError(Code.INVALID_ARGUMENT, "invalid page token: order_by differs from the first request")
    value = item.order_by.value
    return item.uid, (value.seconds * 1_000_000 + value.nanos // 1000) if token_order else None


def check_page_size(size: int) -> int:
    if size == 0:
        return DEFAULT_PAGE_SIZE
    if size < 5 or size > 10000:
        raise ApiError(
            Code.INVALID_ARGUMENT,
            f"invalid page size ({size}): value must be greater than 5 and less than 10000",
        )
    return size


def parse_order_by(order_by: str, allowed: Iterable[str] = RECORD_ORDER_FIELDS) -> tuple[str, bool] | None:
    """`<field> [asc|desc]` with one field from `allowed`; None means the default order by uid."""
    text = order_by.strip()
    if not text:
        return None
    match = ORDER_BY_RE.match(text)
    allowed = tuple(allowed)
    if not match or match.group(1) not in allowed:
        raise ApiError(
            Code.INVALID_ARGUMENT,
            "invalid order by statement: field is unknown or cannot be used in the order by clause: "
            f"the value must obey the format <{'|'.join(allowed)}> [asc|desc]",
        )
    return match.group(1), (match.group(2) or "asc").lower() == "desc"


def compile_filter(filter_: str, columns: Mapping[str, cel.Column] = cel.RECORD_COLUMNS) -> str:
    try:
        return cel.to_sql(filter_, columns)
    except cel.CelError as exc:
        raise ApiError(Code.INVALID_ARGUMENT, f"invalid filter: {exc}") from None


def _match(regex: re.Pattern[str], name: str) -> tuple[str, ...]:
    match = regex.match(name)
    if not match:
        raise ApiError(Code.INVALID_ARGUMENT, f"name must match {regex.pattern}")
    return match.groups()


def _check_json(value: bytes) -> str:
    try:
        text = value.decode()
        json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(Code.INVALID_ARGUMENT, "data.value must be a valid JSON document") from None
    return text


# ---------------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------------


class ResultsApi:
    """One instance per server; thread-safe. `token` is None (auth disabled) or returns the expected token."""

    def __init__(self, store: Store, token: Callable[[], str | None] | None, faults: Faults | None) -> None:
        self.store = store
        self._token = token
        self.faults = _FaultInjector(faults or Faults())

    def authorize(self, authorization_values: Iterable[str]) -> None:
        expected = self._token() if self._token else None
        if not expected:
            return
        values = [v for v in authorization_values if v]
        if not values:
            raise ApiError(Code.UNAUTHENTICATED, "unable to find token")
        if not any(v.strip() == f"Bearer {expected}" for v in values):
            raise ApiError(Code.UNAUTHENTICATED, "permission denied")

    def begin(self, authorization_values: Iterable[str]) -> None:
        """Run before every API call: auth first (like the real server), then injected faults."""
        self.authorize(authorization_values)
        self.faults.before_call()

    # -- records ---------------------------------------------------------------------------------------------------

    def _record_listing(
        self, req: api_pb2.ListRecordsRequest
    ) -> tuple[str, str, int, tuple[str, bool] | None, Page, str]:
        """Validate a ListRecords request (in the real server's order): (parent, result, size, order, page, where)."""
        parent, result = _match(RECORD_PARENT_RE, req.parent)
        size = check_page_size(req.page_size)
        order = parse_order_by(req.order_by)
        where = compile_filter(req.filter)
        after_uid, after_us = None, None
        if req.page_token:
            after_uid, after_us = decode_page_token(req.page_token, req.parent, req.filter, order)
        self.faults.before_listing()
        page = Page(order[0] if order else None, bool(order and order[1]), after_us, after_uid, size + 1)
        return parent, result, size, order, page, where

    def list_records(self, req: api_pb2.ListRecordsRequest) -> api_pb2.ListRecordsResponse:
        """The page as a message (REST, and gRPC calls with a `fields` mask)."""
        parent, result, size, order, page, where = self._record_listing(req)
        rows = self.store.list_records(parent, result, where, page)
        response = api_pb2.ListRecordsResponse(records=[record_proto(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            value = (last.create_us if order[0] == "create_time" else last.update_us) if order else 0
            response.next_page_token = encode_page_token(req.parent, req.filter, last.uid, order, value)
        self.faults.served(len(response.records))
        return response

    def list_records_wire(self, req: api_pb2.ListRecordsRequest) -> bytes:
        """The same page as `list_records`, already serialized: the records' stored protobufs joined (wire.py).
        No message is built per record; this is what gRPC answers when no `fields` mask is asked for."""
        parent, result, size, order, page, where = self._record_listing(req)
        keys, body = self.store.list_record_pbs(parent, result, where, page, size)
        token = ""
        if len(keys) > size:
            _, uid, create_us, update_us, *_ = keys.key(size - 1)
            value = (create_us if order[0] == "create_time" else update_us) if order else 0
            token = encode_page_token(req.parent, req.filter, uid, order, value)
        self.faults.served(min(size, len(keys)))
        return wire.list_records_response([body], token)

    def get_record(self, req: api_pb2.GetRecordRequest) -> resources_pb2.Record:
        return record_proto(self._record_row(req.name))

    def _record_row(self, name: str) -> RecordRow:
        parent, result, record = _match(RECORD_NAME_RE, name)
        row = self.store.get_record(parent, result, record)
        if row is None:
            raise ApiError(Code.NOT_FOUND, f"record {name} not found")
        return row

    def create_record(self, req: api_pb2.CreateRecordRequest) -> resources_pb2.Record:
        parent, result, record = _match(RECORD_NAME_RE, req.record.name)
        if req.parent != f"{parent}/results/{result}":
            raise ApiError(Code.INVALID_ARGUMENT, "requested parent does not match resource name")
        if len(req.record.data.type) > MAX_TYPE_LENGTH:
            raise ApiError(Code.INVALID_ARGUMENT, f"data.type must be at most {MAX_TYPE_LENGTH} characters")
        data = _check_json(req.record.data.value)
        with self.store.write_lock:
            if self.store.get_result(parent, result) is None:
                raise ApiError(Code.NOT_FOUND, f"result {req.parent} not found")
            if self.store.get_record(parent, result, record) is not None:
                raise ApiError(Code.ALREADY_EXISTS, f"record {req.record.name} already exists")
            return record_proto(self.store.insert_record(parent, result, record, req.record.data.type, data))

    def update_record(self, req: api_pb2.UpdateRecordRequest) -> resources_pb2.Record:
        with self.store.write_lock:
            row = self._record_row(req.record.name)
            stored = record_proto(row)
            if req.etag and req.etag != stored.etag:
                raise ApiError(Code.FAILED_PRECONDITION, "the etag mismatches")
            stored.data.MergeFrom(req.record.data)
            if len(stored.data.type) > MAX_TYPE_LENGTH:
                raise ApiError(
                    Code.INVALID_ARGUMENT, f"data.type must be at most {MAX_TYPE_LENGTH} characters"
                )
            data = _check_json(stored.data.value)
            return record_proto(self.store.update_record(row, stored.data.type, data))

    def delete_record(self, req: api_pb2.DeleteRecordRequest) -> None:
        with self.store.write_lock:
            self.store.delete_record(self._record_row(req.name))

    # -- results ---------------------------------------------------------------------------------------------------

    def _result_row(self, name: str) -> ResultRow:
        parent, result = _match(RESULT_NAME_RE, name)
        row = self.store.get_result(parent, result)
        if row is None:
            raise ApiError(Code.NOT_FOUND, f"result {name} not found")
        return row

    def get_result(self, req: api_pb2.GetResultRequest) -> resources_pb2.Result:
        return result_proto(self._result_row(req.name))

    def create_result(self, req: api_pb2.CreateResultRequest) -> resources_pb2.Result:
        parent, result = _match(RESULT_NAME_RE, req.result.name)
        if req.parent != parent:
            raise ApiError(Code.INVALID_ARGUMENT, "requested parent does not match resource name")
        annotations, summary = self._result_payload(req.result)
        with self.store.write_lock:
            if self.store.get_result(parent, result) is not None:
                raise ApiError(Code.ALREADY_EXISTS, f"result {req.result.name} already exists")
            return result_proto(self.store.insert_result(parent, result, annotations, summary))

    def update_result(self, req: api_pb2.UpdateResultRequest) -> resources_pb2.Result:
        name = req.name or req.result.name
        annotations, summary = self._result_payload(req.result)
        with self.store.write_lock:
            row = self._result_row(name)
            if req.etag and req.etag != result_proto(row).etag:
                raise ApiError(Code.FAILED_PRECONDITION, "the etag mismatches")
            return result_proto(self.store.update_result(row, annotations, summary))

    def _result_payload(self, result: resources_pb2.Result) -> tuple[str | None, str | None]:
        annotations = json.dumps(dict(result.annotations)) if result.annotations else None
        if not result.HasField("summary"):
            return annotations, None
        if not result.summary.record or not result.summary.type:
            raise ApiError(Code.INVALID_ARGUMENT, "summary.record and summary.type are required")
        _match(RECORD_NAME_RE, result.summary.record)
        return annotations, json.dumps(base64.b64encode(result.summary.SerializeToString()).decode())

    def delete_result(self, req: api_pb2.DeleteResultRequest) -> None:
        with self.store.write_lock:
            self.store.delete_result(self._result_row(req.name))

    def list_results(self, req: api_pb2.ListResultsRequest) -> api_pb2.ListResultsResponse:
        (parent,) = _match(RESULT_PARENT_RE, req.parent)
        size = check_page_size(req.page_size)
        order = parse_order_by(req.order_by)
        where = compile_filter(req.filter, cel.RESULT_COLUMNS)
        after_uid, after_us = None, None
        if req.page_token:
            after_uid, after_us = decode_page_token(req.page_token, req.parent, req.filter, order)
        page = Page(order[0] if order else None, bool(order and order[1]), after_us, after_uid, size + 1)
        rows = self.store.list_results(parent, where, page)
        response = api_pb2.ListResultsResponse(results=[result_proto(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            value = (last.create_us if order[0] == "create_time" else last.update_us) if order else 0
            response.next_page_token = encode_page_token(req.parent, req.filter, last.uid, order, value)
        return response

    # -- summary ---------------------------------------------------------------------------------------------------

    def record_list_summary(self, req: api_pb2.RecordListSummaryRequest) -> api_pb2.RecordListSummary:
        parent, result = _match(RECORD_PARENT_RE, req.parent)
        keys = _summary_keys(req.summary)
        where = compile_filter(req.filter)
        group_sql = _group_sql(req.group_by.strip())
        order_sql = _summary_order(req.order_by, keys) if group_sql else ""
        conditions, params = [f"({where})"], []
        if parent != "-":
            conditions.append("parent = ?")
            params.append(parent)
        if result != "-":
            conditions.append("result_name = ?")
            params.append(result)
        selects = [f"{_AGGREGATES[k]} AS {k}" for k in keys]
        if group_sql:
            selects.append(f"{group_sql} AS group_value")
        sql = f"SELECT {', '.join(selects)} FROM records WHERE {' AND '.join(conditions)}"
        if group_sql:
            sql += f" GROUP BY group_value {order_sql or 'ORDER BY group_value'}"
        names = [*keys, "group_value"] if group_sql else keys
        rows = self.store.query(sql, params)
        return api_pb2.RecordListSummary(summary=[_summary_struct(names, row) for row in rows])


_REASON = "json_extract_string(data, '$.status.conditions[0].reason')"
_START = "TRY_CAST(json_extract_string(data, '$.status.startTime') AS TIMESTAMPTZ)"
_END = "TRY_CAST(json_extract_string(data, '$.status.completionTime') AS TIMESTAMPTZ)"
_DURATION_S = f"(epoch({_END}) - epoch({_START}))"
_AGGREGATES = {
    "total": "count(*)",
    "succeeded": f"count(*) FILTER (WHERE {_REASON} IN ('Succeeded', 'Completed'))",
    "failed": f"count(*) FILTER (WHERE {_REASON} = 'Failed')",
    "cancelled": f"count(*) FILTER (WHERE {_REASON} = 'Cancelled')",
    "running": f"count(*) FILTER (WHERE {_REASON} = 'Running')",
    # Postgres semantics: a missing reason is NULL, and NULL NOT IN (...) is not true, so it is not counted.
    "others": f"count(*) FILTER (WHERE {_REASON} NOT IN ('Failed', 'Succeeded', 'Cancelled', 'Running', 'Completed'))",
    "avg_duration": f"avg({_DURATION_S})",
    "min_duration": f"min({_DURATION_S})",
    "max_duration": f"max({_DURATION_S})",
    "total_duration": f"sum({_DURATION_S})",
    "last_runtime": f"max(epoch({_START}))",
}
_TIME_FIELDS = {
    "": "metadata.creationTimestamp",
    "starttime": "status.startTime",
    "completiontime": "status.completionTime",
}


def _summary_keys(summary: str) -> list[str]:
    keys = [k.strip() for k in summary.split(",")] if summary.strip() else ["", "total"]
    for key in keys:
        if key not in SUMMARY_KEYS:
            raise ApiError(Code.INVALID_ARGUMENT, f"invalid aggregate query: {key}")
    return list(dict.fromkeys(keys))


def _group_sql(group_by: str) -> str:
    if not group_by:
        return ""
    namespace = "namespace"  # the column the store fills with data.metadata.namespace (or '') on every write
    if group_by == "namespace":
        return namespace
    if group_by == "pipeline":
        label = "json_extract_string(data, '$.metadata.labels.\"tekton.dev/pipeline\"')"
        return f"{namespace} || '/' || coalesce({label}, '')"
    if group_by == "repository":
        annotation = (
            "json_extract_string(data, '$.metadata.annotations.\"pipelinesascode.tekton.dev/repository\"')"
        )
        return f"{namespace} || '/' || coalesce({annotation}, '')"
    unit, _, field = group_by.partition(" ")
    if unit in TIME_GROUPS and field.strip().lower() in _TIME_FIELDS:
        path = _TIME_FIELDS[field.strip().lower()]
        value = f"TRY_CAST(json_extract_string(data, '$.{path}') AS TIMESTAMPTZ)"
        return f"epoch(date_trunc('{unit}', {value}))"
    raise ApiError(
        Code.INVALID_ARGUMENT,
        f"invalid group_by: {group_by} (use namespace, pipeline, repository or "
        f"{'|'.join(TIME_GROUPS)} [startTime|completionTime])",
    )


def _summary_order(order_by: str, keys: list[str]) -> str:
    if not order_by.strip():
        return ""
    field, _, direction = order_by.strip().partition(" ")
    if field not in keys or direction.strip().upper() not in ("ASC", "DESC"):
        raise ApiError(
            Code.INVALID_ARGUMENT,
            f"invalid order_by: {order_by} (write '<summary field> ASC|DESC' with a requested summary field)",
        )
    return f"ORDER BY {field} {direction.strip().upper()}, group_value"


def format_interval(seconds: float) -> str:
    """Postgres interval text, as the real server returns durations: "00:01:16.21875", "1 day 02:00:00"."""
    sign = "-" if seconds < 0 else ""
    micros = round(abs(seconds) * 1_000_000)
    days, micros = divmod(micros, 86_400_000_000)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    secs, micros = divmod(micros, 1_000_000)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if micros:
        text += f".{micros:06d}".rstrip("0")
    if days:
        text = f"{days} day{'s' if days > 1 else ''} {text}"
    return sign + text


def _summary_struct(names: list[str], row: tuple) -> struct_pb2.Struct:
    values: dict[str, object] = {}
    for name, value in zip(names, row, strict=True):
        if value is None:
            values[name] = None
        elif name.endswith("_duration"):
            values[name] = format_interval(float(value))
        elif name == "group_value" and isinstance(value, str):
            values[name] = value
        else:
            values[name] = float(value)
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct
