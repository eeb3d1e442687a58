"""Shared benchmark plumbing: measure a command's wall time and peak memory, and record figures.

Every benchmark runs the measured step in a child process, so its peak RSS is its own (`wait4` rusage), and writes
its Markdown section into bench/RESULTS.md between `<!-- bench:NAME -->` markers, leaving other sections alone.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "RESULTS.md"
WORK_DIR = BENCH_DIR / "out"


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    output: str

    def row(self, extra: str = "") -> str:
        return f"| {self.label} | {self.seconds:.2f} | {self.peak_rss_mb:.0f} | {extra} |"


def run_measured(
    label: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measurement:
    """Run `cmd` to completion; fail loudly if it fails. Peak RSS is the child's own (largest process it reaped)."""
    with tempfile.TemporaryFile(mode="w+") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd or REPO_ROOT
        )
        # wait4 (not Popen.wait) so the rusage is this child's alone, not the max over every child we ever ran.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: {' '.join(cmd)} exited {proc.returncode}:\n{output[-4000:]}")
    return Measurement(label, seconds, usage.ru_maxrss / 1024, output)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def machine_line() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.machine()}"
    )


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section for `name` in bench/RESULTS.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n\n_Measured {machine_line()}._\n{end}"
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else "# Benchmark results\n\nRun `make bench`.\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    RESULTS_FILE.write_text(text)
