"""One public port for gRPC and REST, like the real server's listener.

grpcio cannot share a port with an HTTP/1.1 server, so a small front accepts every connection, looks at the first
bytes, and proxies the raw stream: the HTTP/2 connection preface ("PRI * HTTP/2.0") goes to the internal gRPC
port, anything else to the internal REST port. Both internal ports listen on loopback only. h2c REST (HTTP/2
without `application/grpc`) is not supported; real clients use HTTP/1.1 for REST.

Plaintext connections are proxied by two threads each, moving bytes with os.splice (socket -> pipe -> socket,
in the kernel, without the GIL): a million-record listing is gigabytes, and copying them through Python cost about
a third of the whole listing's CPU. With TLS the front must decrypt, so an asyncio loop terminates TLS (ALPN
h2/http1.1) and copies in user space.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import ssl
import struct
import threading

H2_PREFACE_START = b"PRI"
CHUNK = 256 * 1024
PIPE_BYTES = 1024 * 1024
SNIFF_TIMEOUT_S = 30.0


class SniffingFront:
    """The public port; `start()` listens, `port` is then the bound port."""

    def __init__(
        self, host: str, port: int, grpc_port: int, rest_port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        impl = _TlsFront if ssl_context is not None else _SpliceFront
        self._impl = impl(host, port, grpc_port, rest_port, ssl_context)
        self.grpc_port = grpc_port
        self.port = 0

    def start(self) -> None:
        self._impl.start()
        self.port = self._impl.port

    def cut_connections(self) -> None:
        """Fault injection: abort every open client and backend connection, as a network cut would."""
        self._impl.cut_connections()

    def stop(self) -> None:
        self._impl.stop()


class _SpliceFront:
    """Plaintext: a thread accepts, peeks at the first bytes, and two threads per connection splice the bytes."""

    def __init__(
        self, host: str, port: int, grpc_port: int, rest_port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._host, self._requested_port = host, port
        self._grpc_port, self._rest_port = grpc_port, rest_port
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="results-front", daemon=True)
        self.port = 0

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._requested_port))
        listener.listen(128)
        listener.settimeout(0.2)  # so the accept loop notices stop()
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(client,), name="results-front-conn", daemon=True
            ).start()

    def _track(self, *socks: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._sockets.update(socks)
            return True

    def _serve(self, client: socket.socket) -> None:
        backend = None
        try:
            client.settimeout(SNIFF_TIMEOUT_S)
            # Peek, so the backend receives the stream from its first byte without us copying it.
            head = client.recv(len(H2_PREFACE_START), socket.MSG_PEEK | socket.MSG_WAITALL)
            if not head:
                client.close()
                return
            client.settimeout(None)
            port = self._grpc_port if head.startswith(H2_PREFACE_START) else self._rest_port
            backend = socket.create_connection(("127.0.0.1", port))
        except OSError:
            client.close()
            return
        for sock in (client, backend):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._track(client, backend):
            client.close()
            backend.close()
            return
        upstream = threading.Thread(target=_pump_socket, args=(client, backend), daemon=True)
        upstream.start()
        _pump_socket(backend, client)
        upstream.join()
        with self._lock:
            self._sockets.discard(client)
            self._sockets.discard(backend)
        client.close()
        backend.close()

    def cut_connections(self) -> None:
        with self._lock:
            socks, self._sockets = list(self._sockets), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                # Linger 0: the close that follows sends RST, as a cut would, not an orderly FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stopping.set()
        self.cut_connections()
        self._thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()


def _pump_socket(src: socket.socket, dst: socket.socket) -> None:
    """Copy src -> dst until EOF or an error, then half-close dst (the other direction may still be running)."""
    try:
        if hasattr(os, "splice"):
            _splice(src.fileno(), dst.fileno())
        else:  # not Linux: a plain copy loop (still without asyncio's per-chunk overhead)
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while n := src.recv_into(buffer):
                dst.sendall(view[:n])
    except OSError:
        with contextlib.suppress(OSError):
            src.shutdown(socket.SHUT_RDWR)
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(src: int, dst: int) -> None:
    read_end, write_end = os.pipe()
    try:
        with contextlib.suppress(
            OSError
        ):  # a bigger pipe means fewer round trips; the default 64 KiB also works
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        while True:
            moved = os.splice(src, write_end, PIPE_BYTES)
            if moved == 0:
                return
            while moved:
                moved -= os.splice(read_end, dst, moved)
    finally:
        os.close(read_end)
        os.close(write_end)


class _TlsFront:
    """TLS: an asyncio loop terminates TLS, sniffs the decrypted bytes and copies them."""

    def __init__(
        self, host: str, port: int, grpc_port: int, rest_port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._host, self._requested_port = host, port
        self._rest_port = rest_port
        self._ssl = ssl_context
        self.grpc_port = grpc_port
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
