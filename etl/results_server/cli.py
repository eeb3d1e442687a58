"""`tekton-warehouse serve-results`: a local Tekton Results API (gRPC + REST on one port) over a records file."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from etl.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve-results",
        help="serve DIR/records.ndjson as a Tekton Results API (gRPC and REST on one port)",
        description="Serve DIR/records.ndjson (from 'tekton-warehouse generate') with the real server's rules.",
    )
    parser.add_argument("--data", required=True, type=Path, help="folder holding records.ndjson")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one and print it)")
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        help="also serve gRPC directly on this port, without the one-port front's proxy hop "
        "(0: pick a free one; printed as 'grpc-port N'; default: only the one port)",
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token every call must carry (default: no auth)")
    auth.add_argument("--token-file", type=Path, help="file holding the token, re-read on every call")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) to serve TLS with")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of calls answered UNAVAILABLE (0..1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --fail-rate (deterministic faults)")
    parser.add_argument("--latency-ms", type=int, default=0, help="latency added to every call")
    parser.add_argument(
        "--cut-after-records",
        type=int,
        default=None,
        help="cut the connection each time N more records were listed",
    )
    parser.add_argument(
        "--legacy-camelcase",
        action="store_true",
        help="REST JSON like releases before v0.15 (camelCase keys)",
    )
    parser.set_defaults(func=run)


def _token_source(args: argparse.Namespace):
    if args.token_file is None:
        return args.token
    path: Path = args.token_file

    def read() -> str | None:
        from etl.results_server.api import ApiError, Code

        try:
            return path.read_text().strip() or None
        except OSError:
            # Deny rather than silently disabling auth while the file is being rotated or removed.
            raise ApiError(
                Code.UNAUTHENTICATED, "permission denied: the server cannot read its token file"
            ) from None

    if not path.is_file():
        raise ConfigError(f"--token-file {path} does not exist")
    return read


def run(args: argparse.Namespace) -> int:
    from etl.results_server.api import Faults
    from etl.results_server.server import TlsFiles, start_server

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if not 0.0 <= args.fail_rate <= 1.0:
        raise ConfigError("--fail-rate must be between 0 and 1")
    tls = TlsFiles(args.tls_cert, args.tls_key) if args.tls_cert else None
    faults = Faults(args.fail_rate, args.seed, args.latency_ms, args.cut_after_records)
    server = start_server(
        args.data,
        host=args.host,
        port=args.port,
        token=_token_source(args),
        tls=tls,
        faults=faults,
        legacy_camelcase=args.legacy_camelcase,
        grpc_port=args.grpc_port,
    )
    print(
        f"serving {server.records_loaded} records on {args.host}:{server.port} "
        f"(gRPC {server.grpc_target}, REST {server.rest_url})",
        flush=True,
    )
    if server.direct_grpc_port is not None:
        print(f"grpc-port {server.direct_grpc_port}", flush=True)
    print(f"port {server.port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
    print("stopped", file=sys.stderr)
    return 0
