"""One public port for gRPC and REST, like the real server's listener.

grpcio cannot share a port with an HTTP/1.1 server, so a small asyncio front accepts every connection (terminating
TLS when configured, with ALPN h2/http1.1), looks at the first bytes, and proxies the raw stream: the HTTP/2
connection preface ("PRI * HTTP/2.0") goes to the internal gRPC port, anything else to the internal REST port. Both
internal ports listen on loopback only. h2c REST (HTTP/2 without `application/grpc`) is not supported; real
clients use HTTP/1.1 for REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading

H2_PREFACE_START = b"PRI"
CHUNK = 256 * 1024


class SniffingFront:
    def __init__(
        self, host: str, port: int, grpc_port: int, rest_port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._host, self._requested_port = host, port
        self.grpc_port, self._rest_port = grpc_port, rest_port
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="results-front", daemon=True)
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=30)

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._requested_port, ssl=self._ssl, limit=CHUNK
        )
        return self._server.sockets[0].getsockname()[1]

    def cut_connections(self) -> None:
        """Fault injection: abort every open client and backend connection, as a network cut would."""
        self._loop.call_soon_threadsafe(self._abort_all)

    def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._abort_all()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._transports.add(writer.transport)
        head = b""
        try:
            while len(head) < len(H2_PREFACE_START):
                chunk = await reader.read(CHUNK)
                if not chunk:
                    return
                head += chunk
        except (ConnectionError, ssl.SSLError, OSError):
            writer.transport.abort()
            return
        backend_port = self.grpc_port if head.startswith(H2_PREFACE_START) else self._rest_port
        try:
            backend_reader, backend_writer = await asyncio.open_connection(
                "127.0.0.1", backend_port, limit=CHUNK
            )
        except OSError:
            writer.transport.abort()
            return
        self._transports.add(backend_writer.transport)
        backend_writer.write(head)
        with contextlib.suppress(asyncio.CancelledError):  # cancelled only when the front shuts down
            await asyncio.gather(_pump(reader, backend_writer), _pump(backend_reader, writer))
        self._transports.discard(writer.transport)
        self._transports.discard(backend_writer.transport)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
