"""The gRPC face of the local Results server: `tekton.results.v1alpha2.Results`, health and reflection.

Logs services are not registered, like the real server's default (`LOGS_API=false`): clients get UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from etl.results_server.api import ApiError, ConnectionCut, ResultsApi
from etl.results_server.partial import apply_fields
from etl.tekton_results.gen.tekton.results.v1alpha2 import api_pb2, api_pb2_grpc

SERVICE_NAME = "tekton.results.v1alpha2.Results"
T = TypeVar("T")


class ResultsServicer(api_pb2_grpc.ResultsServicer):
    """Thin adapter: metadata → auth and `fields`, `ApiError` → status code."""

    def __init__(self, api: ResultsApi, cut_connections: Callable[[], None]) -> None:
        self.api = api
        self._cut_connections = cut_connections

    def _call(self, context: grpc.ServicerContext, handler: Callable[[], T]) -> T:
        metadata = context.invocation_metadata() or ()
        try:
            self.api.begin(value for key, value in metadata if key == "authorization")
            response = handler()
        except ApiError as exc:
            context.abort(exc.code, exc.message)
        except ConnectionCut:
            self._cut_connections()
            context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: connection cut")
        fields = next((value for key, value in metadata if key == "fields"), "")
        return apply_fields(response, fields) if fields else response

    def ListRecords(self, request: api_pb2.ListRecordsRequest, context: grpc.ServicerContext) -> bytes:
        """Answered as serialized bytes (registered with an identity serializer, see `_results_handlers`): the
        stored record protobufs joined, or, with a `fields` mask, the message path pruned and serialized."""
        metadata = context.invocation_metadata() or ()
        if any(key == "fields" and value for key, value in metadata):
            return self._call(context, lambda: self.api.list_records(request)).SerializeToString()
        return self._call(context, lambda: self.api.list_records_wire(request))

    def GetRecord(self, request: api_pb2.GetRecordRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.get_record(request))

    def CreateRecord(self, request: api_pb2.CreateRecordRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.create_record(request))

    def UpdateRecord(self, request: api_pb2.UpdateRecordRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.update_record(request))

    def DeleteRecord(self, request: api_pb2.DeleteRecordRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: (self.api.delete_record(request), empty_pb2.Empty())[1])

    def GetResult(self, request: api_pb2.GetResultRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.get_result(request))

    def CreateResult(self, request: api_pb2.CreateResultRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.create_result(request))

    def UpdateResult(self, request: api_pb2.UpdateResultRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.update_result(request))

    def DeleteResult(self, request: api_pb2.DeleteResultRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: (self.api.delete_result(request), empty_pb2.Empty())[1])

    def ListResults(self, request: api_pb2.ListResultsRequest, context: grpc.ServicerContext) -> Any:
        return self._call(context, lambda: self.api.list_results(request))

    def GetRecordListSummary(
        self, request: api_pb2.RecordListSummaryRequest, context: grpc.ServicerContext
    ) -> Any:
        return self._call(context, lambda: self.api.record_list_summary(request))


class _HandlerCapture:
    """Stands in for a grpc.Server to collect the generated code's method handlers."""

    handlers: dict[str, grpc.RpcMethodHandler]

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.handlers = dict(handlers)


def _results_handlers(servicer: ResultsServicer) -> dict[str, grpc.RpcMethodHandler]:
    """The generated handlers, except ListRecords, whose response is already bytes and goes out as it is."""
    capture = _HandlerCapture()
    api_pb2_grpc.add_ResultsServicer_to_server(servicer, capture)
    capture.handlers["ListRecords"] = grpc.unary_unary_rpc_method_handler(
        servicer.ListRecords,
        request_deserializer=api_pb2.ListRecordsRequest.FromString,
        response_serializer=_as_is,
    )
    return capture.handlers


def _as_is(payload: bytes) -> bytes:
    return payload


def build_grpc_server(api: ResultsApi, cut_connections: Callable[[], None], workers: int = 8) -> grpc.Server:
    """A gRPC server with Results, health (SERVING) and reflection; the caller binds a port and starts it."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="results-grpc"),
        options=[
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
        ],
    )
    handlers = _results_handlers(ResultsServicer(api, cut_connections))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    return server
