"""`tekton-warehouse import` and `tekton-warehouse ingest`: the raw layer's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl.cli import add_home_argument
from etl.config import config_file_for, load_sources_config, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_import(subparsers)
    _register_ingest(subparsers)


def _register_import(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="load exported files (kubectl JSON/YAML, NDJSON, Results REST responses, gzip) into the raw layer",
        description="Load PipelineRuns and TaskRuns from exported files. The format is sniffed from the content. "
        "Objects that cannot be loaded go to raw.rejects with a reason.",
    )
    add_home_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files to import")
    parser.add_argument(
        "--cluster", default="default", help="cluster name the objects belong to (default: default)"
    )
    parser.add_argument(
        "--config", default=None, help="sources config, for the ingest settings (batch size, ...)"
    )
    parser.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when it is not a TTY"
    )
    parser.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for another writer"
    )
    parser.set_defaults(func=_run_import)


def _run_import(args: argparse.Namespace) -> int:
    from etl.files.importer import ProgressBar, import_files

    paths = resolve_home(args.home)
    settings = load_sources_config(config_file_for(paths, args.config)).ingest
    progress = ProgressBar(redraw=None) if (args.progress or sys.stderr.isatty()) else None
    report = import_files(
        paths,
        [Path(p) for p in args.paths],
        cluster=args.cluster,
        settings=settings,
        progress=progress,
        wait_s=args.wait,
    )
    print(report.summary())
    return 0


def _register_ingest(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="pull what changed from Tekton Results and Kubernetes into the raw layer",
        description="Incremental pull from the sources config (or one Tekton Results API given by --results-url).",
    )
    add_home_argument(parser)
    parser.add_argument("--config", default=None, help="sources config file (default <home>/sources.yaml)")
    parser.add_argument(
        "--cluster", action="append", default=[], help="only this configured cluster (repeat)"
    )
    parser.add_argument("--full", action="store_true", help="ignore watermarks and list everything again")
    parser.add_argument(
        "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for another writer"
    )
    direct = parser.add_argument_group("one-off Results pull without a config file")
    direct.add_argument("--results-url", help="HOST:PORT for gRPC, or https://... for REST")
    direct.add_argument(
        "--transport", choices=("grpc", "rest"), default=None, help="default: grpc, or rest for URLs"
    )
    direct.add_argument("--token-file", help="file holding the bearer token (re-read on every call)")
    direct.add_argument("--token-env", metavar="VAR", help="env var holding the bearer token")
    direct.add_argument("--ca-file", help="CA bundle to verify the server's certificate")
    direct.add_argument(
        "--insecure-skip-tls-verify", action="store_true", help="do not verify the certificate"
    )
    direct.add_argument("--plaintext", action="store_true", help="no TLS at all")
    direct.add_argument("--namespace", action="append", default=[], help="only this namespace (repeat)")
    direct.add_argument("--cluster-name", default="default", help="cluster name for the pulled objects")
    parser.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    from etl.warehouse.ingest import ingest, ingest_results_url

    paths = resolve_home(args.home)
    config = load_sources_config(config_file_for(paths, args.config))
    progress = (
        (lambda run: print(f"\r{run.summary()}\x1b[K", end="", file=sys.stderr))
        if sys.stderr.isatty()
        else None
    )
    if args.results_url:
        transport = args.transport or (
            "rest" if args.results_url.startswith(("http://", "https://")) else "grpc"
        )
        report = ingest_results_url(
            paths,
            url=args.results_url,
            transport=transport,
            token_file=args.token_file,
            token_env=args.token_env,
            ca_file=args.ca_file,
            insecure_skip_tls_verify=args.insecure_skip_tls_verify,
            plaintext=args.plaintext,
            namespaces=args.namespace,
            cluster_name=args.cluster_name,
            settings=config.ingest,
            full=args.full,
            wait_s=args.wait,
        )
    else:
        report = ingest(
            paths, config, clusters=args.cluster or None, full=args.full, wait_s=args.wait, on_batch=progress
        )
    if progress:
        print(file=sys.stderr)
    for line in report.lines():
        print(line)
    report.raise_for_failures()
    return 0
