"""`tekton-warehouse demo`: the whole product on the embedded default, in one command.

Synthetic history → local Tekton Results server (gRPC, bearer token) → ingest → dbt → published tekton.duckdb →
daily summary → Streamlit and the Dagster UI. Each step is the code a real deployment runs; only the source is local.
The Results server keeps running while the UIs are up, so Dagster's schedules can pull from it too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from etl.cli import add_home_argument
from etl.config import CONFIG_ENV, HOME_ENV, WarehousePaths, resolve_home
from etl.errors import WarehouseError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_CLUSTER = "demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a generated history and open the UIs",
        description="Generate a synthetic Tekton history, serve it from a local Tekton Results server, ingest it, "
        "build the marts, publish tekton.duckdb, write a daily summary, then start Streamlit and the Dagster UI.",
    )
    add_home_argument(parser)
    parser.add_argument("--days", type=int, default=30, help="days of history to generate (default 30)")
    parser.add_argument(
        "--pipelines", type=int, default=40, help="pipelines in the generated org (default 40)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--no-serve", action="store_true", help="build everything, then exit without starting UIs"
    )
    parser.add_argument("--streamlit-port", type=int, default=8501, help="reports port (default 8501)")
    parser.add_argument("--dagster-port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = resolve_home(args.home).ensure()
    history = _ensure_history(paths, args.days, args.pipelines, args.seed)
    token = secrets.token_urlsafe(24)
    token_file = _write_private(paths.home / "demo" / "results-token", token)

    from etl.results_server.server import start_server

    with start_server(history, token=lambda: token_file.read_text().strip()) as server:
        _say(f"Tekton Results server (gRPC + REST) on {server.address}, {server.records_loaded:,} records")
        config_file = _write_demo_config(paths, server.grpc_target, token_file)
        env = {
            HOME_ENV: str(paths.home),
            CONFIG_ENV: str(config_file),
            "DAGSTER_HOME": str(paths.dagster_home),
        }
        os.environ.update(env)
        _materialize(paths, config_file)
        if args.no_serve:
            return 0
        with ExitStack() as stack:
            stack.enter_context(_process("Streamlit", _streamlit_cmd(args.streamlit_port), env))
            stack.enter_context(_process("Dagster", _dagster_cmd(args.dagster_port), env))
            reports = f"http://localhost:{args.streamlit_port}"
            dagster = f"http://localhost:{args.dagster_port}"
            _wait_http("Streamlit", f"{reports}/_stcore/health", 120)
            _wait_http("Dagster", f"{dagster}/server_info", 600)
            _say(f"Reports:   {reports}")
            _say(f"Dagster:   {dagster}")
            _say(f"SQL:       duckdb -readonly {paths.serving_db}")
            _say("Press Ctrl-C to stop.")
            _wait_for_interrupt()
    return 0


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _ensure_history(paths: WarehousePaths, days: int, pipelines: int, seed: int) -> Path:
    """Generate once per (days, pipelines, seed); a re-run of the demo reuses it."""
    from etl.synth import generate

    history = paths.demo_history_dir / f"d{days}-p{pipelines}-s{seed}"
    if not (history / "records.ndjson").exists():
        report = generate(history, days=days, pipelines=pipelines, seed=seed)
        _say(
            f"generated {report.pipeline_runs:,} PipelineRuns and {report.task_runs:,} TaskRuns "
            f"in {report.seconds:.1f}s -> {history}"
        )
    return history


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return path


def _write_demo_config(paths: WarehousePaths, grpc_target: str, token_file: Path) -> Path:
    """The demo's own sources config; a user's <home>/sources.yaml is never overwritten."""
    config = {
        "clusters": [
            {
                "name": DEMO_CLUSTER,
                "results": {
                    "url": grpc_target,
                    "transport": "grpc",
                    "token": {"file": str(token_file)},
                    # Loopback only: the local server speaks plaintext; real sources verify TLS by default.
                    "plaintext": True,
                },
            }
        ]
    }
    path = paths.home / "demo" / "sources.yaml"
    path.write_text(
        "# Written by `tekton-warehouse demo` on every start.\n" + yaml.safe_dump(config, sort_keys=False)
    )
    return path


def _materialize(paths: WarehousePaths, config_file: Path) -> None:
    """Ingest → dbt → publish → summary, as one Dagster run so the UI shows it."""
    from etl.orchestrate import materialize_all

    started = time.perf_counter()
    # dagster-dbt echoes every dbt event on stdout; the demo's terminal keeps to its own lines, the events go to a
    # file (and, as every Dagster event, to the run's event log in the UI).
    dbt_log = paths.home / "demo" / "dbt-events.log"
    dbt_log.parent.mkdir(parents=True, exist_ok=True)
    with dbt_log.open("w") as sink, contextlib.redirect_stdout(sink):
        succeeded = materialize_all(paths)
    if not succeeded:
        raise WarehouseError(
            f"the demo's Dagster run failed; see {dbt_log}, the Dagster UI or the logs under {paths.dagster_home}"
        )
    _say(f"ingested, built and published {paths.serving_db} in {time.perf_counter() - started:.0f}s")
    reports = sorted(paths.daily_reports_dir.glob("*.html"))
    if reports:
        _say(f"daily summary: {reports[-1]}")


def _streamlit_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "dashboards" / "streamlit_app.py"),
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
    ]


def _dagster_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "dagster", "dev", "-m", "etl.definitions", "-p", str(port)]


@contextmanager
def _process(name: str, cmd: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start `cmd` in its own process group (Dagster ignores signals sent only to its parent) and stop it after."""
    log = (Path(env[HOME_ENV]) / "demo" / f"{name.lower()}.log").open("wb")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _wait_http(name: str, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise WarehouseError(
        f"{name} did not answer at {url} within {timeout_s:.0f}s; see its log under <home>/demo/"
    )


def _wait_for_interrupt() -> None:
    # Ctrl-C stops the demo even when it was started from a context that ignores SIGINT (a shell's background job
    # inherits SIG_IGN, which Python keeps); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _say("stopping")
