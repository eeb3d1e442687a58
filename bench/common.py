"""Shared benchmark plumbing: measure a command's wall time and peak memory, and record figures.

Every benchmark runs the measured step in a child process, so its peak RSS is its own (`run_measured`), and writes
its Markdown section into bench/RESULTS.md between `<!-- bench:NAME -->` markers, leaving other sections alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
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
    # user + system CPU of the child: on a shared machine less noisy than wall time (another job's load stretches
    # the wall clock, not the work done)
    cpu_seconds: float = 0.0
    # 1-minute load average right before and right after: the machine is shared, so every figure carries it
    load_before: float = float("nan")
    load_after: float = float("nan")

    def row(self, extra: str = "") -> str:
        return f"| {self.label} | {self.seconds:.2f} | {self.peak_rss_mb:.0f} | {extra} |"


# Linux records the launching process's peak RSS in a child's ru_maxrss when the child execs, so a child of this
# process would report at least this process's own peak (a bench that queried DuckDB in-process: ~300 MB for a
# `python -c pass`). This small launcher forks the command afresh and reports the command's own rusage.
_LAUNCHER = """
import json, os, sys
report, cmd = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        print(f"cannot run {cmd[0]}: {exc}", file=sys.stderr, flush=True)
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    json.dump({"maxrss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}, out)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(
    label: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measurement:
    """Run `cmd` to completion; fail loudly if it fails. Peak RSS is the command's own (with the largest process
    it reaped), whatever this process's own peak (`_LAUNCHER`); CPU is the command's and its children's."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile(mode="w+") as log, tempfile.NamedTemporaryFile(suffix=".json") as report:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report.name, *cmd],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd or REPO_ROOT,
            check=False,
        )
        seconds = time.perf_counter() - started
        log.seek(0)
        output = log.read()
        usage = json.loads(Path(report.name).read_text() or "{}")
    if proc.returncode != 0 or not usage:
        raise RuntimeError(f"{label}: {' '.join(cmd)} exited {proc.returncode}:\n{output[-4000:]}")
    return Measurement(
        label, seconds, usage["maxrss_kb"] / 1024, output, usage["cpu"], load_before, os.getloadavg()[0]
    )


def median_round(rounds: list[Measurement], label: str) -> tuple[int, Measurement, str]:
    """The median of `rounds` by wall time: its index, the round under `label`, and every round's seconds as text
    ("31.2 / 40.3 / 34.9"). On a shared machine one run of a step compares other tenants' load as much as the code."""
    index = sorted(range(len(rounds)), key=lambda i: rounds[i].seconds)[len(rounds) // 2]
    times = " / ".join(f"{measured.seconds:.1f}" for measured in rounds)
    return index, dataclasses.replace(rounds[index], label=label), times


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def machine_line() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu_model()}), Python "
        f"{platform.python_version()}, {platform.machine()}; {python_speed()}"
    )


def cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it, with its family and model: hosts named alike differ in speed."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = dict(re.findall(r"^(model name|cpu family|model)\s*:\s*(.*)$", text, re.M))
    name = fields.get("model name", "unknown CPU")
    return (
        f"{name}, family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields else name
    )


def python_speed() -> str:
    """A fixed pure-Python loop, timed: sessions ran on hosts whose per-core speed differed 2x under the same name
    (bench/RESULTS.md, top), which moves every Python-bound figure; this makes hosts comparable."""
    started = time.process_time()
    total = 0
    for number in range(20_000_000):
        total += number & 7
    return f"20M-step Python loop {time.process_time() - started:.2f} CPU s"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section for `name` in bench/RESULTS.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n\n_Measured {machine_line()}._\n{end}"
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else "# Benchmark results\n\nRun `make bench`.\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    RESULTS_FILE.write_text(text)


# --- Shared generated histories (owned by the synth generator; see etl/synth) ---------------------------------

HISTORY_SEED = 1
HISTORY_DAYS = 30
HISTORY_RUNS_PER_DAY = 6.0
# With the flags below, a pipeline gives 966-980 objects in 30 days (seed 1, measured: 966,233 for 1,000 pipelines,
# 1,021,321 for 1,042); rounding down makes a history of N objects hold at least N (the targets speak of 1,000,000).
OBJECTS_PER_PIPELINE = 960


def history_flags(objects: int) -> list[str]:
    """`generate` flags for a history of a little over `objects` objects (30 days, 6 pushes per pipeline and
    weekday). For 1,000,000 (~200,000 PipelineRuns and their TaskRuns):
    `--days 30 --pipelines 1042 --namespaces 20 --runs-per-day 6 --seed 1`.
    """
    pipelines = max(8, math.ceil(objects / OBJECTS_PER_PIPELINE))
    namespaces = max(4, min(20, pipelines // 50))
    return [
        "--days", str(HISTORY_DAYS), "--pipelines", str(pipelines), "--namespaces", str(namespaces),
        "--runs-per-day", str(HISTORY_RUNS_PER_DAY), "--seed", str(HISTORY_SEED),
    ]  # fmt: skip


def ensure_history(objects: int = 1_000_000) -> Path:
    """Generate (once, under a lock) a history of about `objects` objects in bench/out/history-<objects>/.

    Returns the folder holding objects.ndjson, records.ndjson and ground_truth.json. Concurrent callers wait on
    bench/out/.generate.lock; the folder appears only complete (generated beside it, then renamed).
    """
    import fcntl
    import shutil

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    target = WORK_DIR / f"history-{objects}"
    with (WORK_DIR / ".generate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "ground_truth.json").exists():
            return target
        staging = WORK_DIR / f".history-{objects}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            python_cmd("-m", "etl.cli", "generate", "--out", str(staging), *history_flags(objects)),
            cwd=REPO_ROOT,
            check=True,
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target
