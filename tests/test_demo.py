"""The README's first command: `tekton-warehouse demo` builds everything, serves both UIs, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_processes_of(home: Path) -> None:
    """SIGKILL every process started with the demo's home in its environment: the demo starts Dagster, Streamlit
    and the Results server in sessions of their own, so killing the demo's group when the test fails would leave
    them running on this machine."""
    marker = f"TEKTON_WAREHOUSE_HOME={home}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                os.kill(int(environ.parent.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # gone already, or not ours to read


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def test_demo_builds_serves_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    streamlit_port, dagster_port = _free_port(), _free_port()
    cmd = [
        sys.executable,
        "-m",
        "etl.cli",
        "demo",
        "--home",
        str(home),
        "--days",
        "3",
        "--pipelines",
        "6",
        "--streamlit-port",
        str(streamlit_port),
        "--dagster-port",
        str(dagster_port),
    ]
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while "Press Ctrl-C" not in (tmp_path / "demo.log").read_text():
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "demo did not come up in 15 minutes"
            time.sleep(1)
        output = (tmp_path / "demo.log").read_text()
        assert f"Reports:   http://localhost:{streamlit_port}" in output
        assert f"Dagster:   http://localhost:{dagster_port}" in output
        assert _get(f"http://localhost:{streamlit_port}/_stcore/health") == 200
        assert _get(f"http://localhost:{dagster_port}/server_info") == 200

        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            _kill_processes_of(home)
        log.close()

    with pytest.raises(OSError):
        _get(f"http://localhost:{streamlit_port}/_stcore/health")

    con = duckdb.connect(str(home / "tekton.duckdb"), read_only=True)
    try:
        runs = con.execute("select count(*) from marts.fct_pipeline_runs").fetchone()[0]
        clusters = con.execute("select distinct cluster from marts.fct_pipeline_runs").fetchall()
    finally:
        con.close()
    assert runs > 0 and clusters == [("demo",)]
    # dbt's event stream goes to a file, not to the demo's terminal.
    dbt_events = {line.strip() for line in (home / "demo" / "dbt-events.log").read_text().splitlines()} - {""}
    assert any("stg_tekton__pipeline_runs" in line for line in dbt_events), (
        "dbt's events are kept in the file"
    )
    assert not dbt_events & {line.strip() for line in output.splitlines()}, (
        "no dbt event line in the terminal"
    )
    assert list((home / "reports" / "daily").glob("*.html")), "the demo writes a daily summary"

    token_file = home / "demo" / "results-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    for path in [tmp_path / "demo.log", *home.rglob("*.log")]:
        assert token not in path.read_text(errors="replace"), f"token leaked into {path}"
