"""Start the local Tekton Results server in-process: `start_server(data_dir, ...) -> RunningServer`.

Used by tests, the demo and the benchmark. It loads `<data_dir>/records.ndjson` into DuckDB, starts the internal
gRPC and REST servers on loopback, and exposes both on one public port through `SniffingFront`.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from etl.results_server.api import Faults, ResultsApi
from etl.results_server.front import SniffingFront
from etl.results_server.grpc_service import build_grpc_server
from etl.results_server.rest import RestServer
from etl.results_server.store import DEFAULT_MEMORY_LIMIT, Store

RECORDS_FILE = "records.ndjson"


@dataclass(frozen=True)
class TlsFiles:
    """PEM server certificate (chain) and private key."""

    cert: Path
    key: Path


class RunningServer:
    """A started server; stop it with `.stop()` or use it as a context manager."""

    def __init__(
        self,
        host: str,
        front: SniffingFront,
        grpc_server: grpc.Server,
        rest: RestServer,
        store: Store,
        api: ResultsApi,
        tls: bool,
    ) -> None:
        self._front, self._grpc, self._rest, self._store = front, grpc_server, rest, store
        self.api = api
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = front.port
        self.tls = tls
        self.records_loaded = store.count_records()
        # The internal gRPC port (loopback, plaintext), reachable without the sniffing front.
        self.internal_grpc_port = front.grpc_port
        self.direct_grpc_port: int | None = None  # set when start_server(grpc_port=...) exposed gRPC directly

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def grpc_target(self) -> str:
        return self.address

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def cut_connections(self) -> None:
        self._front.cut_connections()

    def stop(self) -> None:
        self._front.stop()
        self._grpc.stop(grace=None)
        self._rest.shutdown()
        self._rest.server_close()
        self._store.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ssl_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def start_server(
    data_dir: str | os.PathLike[str] | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | Callable[[], str | None] | None = None,
    tls: TlsFiles | None = None,
    faults: Faults | None = None,
    legacy_camelcase: bool = False,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    grpc_port: int | None = None,
) -> RunningServer:
    """Serve `<data_dir>/records.ndjson` (or nothing, when `data_dir` is None) on `host:port` (0 = any free port).

    `token`: the bearer token every API call must carry, or a callable returning it (re-read per call so a token
    file can rotate); None disables auth like `AUTH_DISABLE=true`.
    `grpc_port`: also serve gRPC straight from grpcio on `host:grpc_port` (0 = any free port; TLS when `tls` is
    given), skipping the one-port front's proxy hop. Same API, auth and faults, except that `cut_after_records`
    cuts only connections through the front.
    """
    store = Store(memory_limit=memory_limit)
    try:
        store.load(Path(data_dir) / RECORDS_FILE if data_dir is not None else None)
    except BaseException:
        store.close()
        raise
    token_source = (lambda: token) if isinstance(token, str) else token
    api = ResultsApi(store, token_source, faults)
    front_box: list[SniffingFront] = []
    grpc_server = build_grpc_server(api, lambda: front_box[0].cut_connections())
    internal_port = grpc_server.add_insecure_port("127.0.0.1:0")
    direct_port = None
    if grpc_port is not None:
        address = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
        if tls is not None:
            credentials = grpc.ssl_server_credentials([(tls.key.read_bytes(), tls.cert.read_bytes())])
            direct_port = grpc_server.add_secure_port(address, credentials)
        else:
            direct_port = grpc_server.add_insecure_port(address)
    grpc_server.start()
    rest = RestServer(("127.0.0.1", 0), api, legacy_camelcase)
    threading.Thread(target=rest.serve_forever, name="results-rest", daemon=True).start()
    front = SniffingFront(
        host, port, internal_port, rest.server_address[1], _ssl_context(tls) if tls else None
    )
    front_box.append(front)
    try:
        front.start()
    except BaseException:
        grpc_server.stop(None)
        rest.shutdown()
        store.close()
        raise
    running = RunningServer(host, front, grpc_server, rest, store, api, tls is not None)
    running.direct_grpc_port = direct_port
    return running
