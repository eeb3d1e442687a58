"""Benchmark: the raw layer's two bulk paths, each against a baseline measured in the same run.

1. `tekton-warehouse import` of the generated history's objects.ndjson, against the ceiling (DuckDB's own
   `read_ndjson_objects` of the same file into a table, no validation or keys) and against a naive loop
   (`json.loads` per object, five fields, one INSERT per row), run on a sample and extrapolated.
2. `tekton-warehouse ingest` of the whole records.ndjson from the local Results server over gRPC, end to end;
   then an incremental run after 1,000 records were updated on the server.
Every measured step runs in its own child process (wall time and peak RSS from `bench.common.run_measured`).

Env: BENCH_INGEST_HISTORY = a generated folder to use instead of `bench.common.ensure_history()` (smoke runs);
BENCH_INGEST_NAIVE_SAMPLE = objects for the naive loop (default 50,000).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import WORK_DIR, Measurement, python_cmd, run_measured, write_section

NAIVE_SAMPLE = int(os.environ.get("BENCH_INGEST_NAIVE_SAMPLE", "50000"))
UPDATED_RECORDS = 1000

CEILING_SCRIPT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE t AS SELECT * FROM read_ndjson_objects(?)", [sys.argv[2]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

NAIVE_SCRIPT = """
import duckdb, itertools, json, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t (uid VARCHAR PRIMARY KEY, kind VARCHAR, api_version VARCHAR, namespace VARCHAR, "
            "name VARCHAR, object JSON)")
with open(sys.argv[2], "rb") as lines:
    for line in itertools.islice(lines, int(sys.argv[3])):
        obj = json.loads(line)
        meta = obj["metadata"]
        con.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                    [meta["uid"], obj["kind"], obj["apiVersion"], meta.get("namespace"), meta.get("name"), line])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

UPDATE_SCRIPT = """
import json, sys
from etl.tekton_results.client import ResultsClient, ResultsClientConfig
target, records_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with ResultsClient(ResultsClientConfig(url=target, plaintext=True)) as client, open(records_file) as lines:
    step = 997  # spread the updates over the history
    for n, line in enumerate(lines):
        if n % step == 0:
            record = json.loads(line)
            obj = record["data"]
            obj["metadata"].setdefault("annotations", {})["bench/updated"] = "true"
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"].get("resourceVersion") or 0) + 10**9)
            client.update_record(record["name"], obj)
            count -= 1
            if count == 0:
                break
"""


def _history() -> Path:
    if os.environ.get("BENCH_INGEST_HISTORY"):
        return Path(os.environ["BENCH_INGEST_HISTORY"])
    from bench import common

    ensure = getattr(common, "ensure_history", None)
    if ensure is None:
        raise SystemExit("bench.common.ensure_history() is not available yet; set BENCH_INGEST_HISTORY=DIR")
    return Path(ensure())


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))


def _config(home: Path, target: str | None = None) -> Path:
    """The defaults users get (ingest batch and transaction sizes, Results page size): only the server is set."""
    text = f"clusters:\n- results:\n    url: {target}\n    plaintext: true\n" if target else "clusters: []\n"
    (home / "sources.yaml").write_text(text)
    return home / "sources.yaml"


# Profile of the raw layer (perf record -e cpu-clock and per-thread timing), kept with the figures.
WHERE_THE_TIME_GOES = """Where the time goes. The load runs on three threads: the source's (read pages, gather the next batch), the
stage's (one SQL statement per batch on its own cursor: two JSON parses for keys and verdict, the strip of bulky
fields, the content hash) and the writer's (rejects, the semi-join on stored uids, the append, commits every 120,000
objects); DuckDB runs one thread per statement. In an ad-hoc 1M import on a quiet machine (13:25 UTC) it used 1.7 of the 2
cores (66 s CPU over 39 s; the bench's own run may differ: the ceiling itself has measured 11-15 s on this machine
within one day); the stage is the longest thread (~49 s busy under load; the writer waited ~8 s for it). By
library (perf, the 1M gRPC ingest): DuckDB 46% (yyjson parsing 11%, hashing, the FSST-compressed uid column read by
every batch's semi-join, compression and writes), libc 22% (memmove 16%: yyjson copies each object before parsing
it, and strings are copied into DuckDB vectors), kernel 17% (file writes, page faults of fresh buffers), Python 6%,
Arrow 3%, protobuf 3%. What helped this round: the stage on its own thread and cursor (DuckDB releases the GIL);
row groups of 32,768 rows with 120,000-object transactions, so whole row groups go straight into the file instead of
the write-ahead log (a 122,880-row group of JSON is ~300 MB, which spilled under the memory limit); NDJSON lines cut
with one numpy newline search per 8 MB block; glibc told to return big blocks to the OS (peak RSS 1,060 -> 909 MB).
Measured without gain: DuckDB's own parallelism (threads=2 cost ~30% more CPU, parallel appends write partial row
groups), two stage threads (+250 MB RSS; timed only under load), `force_compression = 'uncompressed'` and disabling
FSST/dictionary (same CPU). Next: one JSON parse instead of two for valid objects, reading the stored uids without
decompressing them every batch, and Arrow string views instead of the copy that trims each line."""


# 1-minute load average before and after each measured step: the machine is shared, so every figure carries it.
LOADS: dict[str, tuple[float, float]] = {}


def _measure(label: str, cmd: list[str]) -> Measurement:
    before = os.getloadavg()[0]
    measured = run_measured(label, cmd)
    LOADS[label] = (before, os.getloadavg()[0])
    return measured


def _row(measured: Measurement, notes: str) -> str:
    before, after = LOADS[measured.label]
    return measured.row(f"{notes} | {measured.cpu_seconds:.1f} | {before:.1f} → {after:.1f}")


def _import_section(objects: Path, total: int, work: Path) -> tuple[str, list[Measurement]]:
    ceiling = _measure(
        "DuckDB read_ndjson_objects → table (ceiling)",
        python_cmd("-c", CEILING_SCRIPT, str(_fresh(work / "ceiling") / "c.duckdb"), str(objects)),
    )
    home = _fresh(work / "import")
    ours = _measure(
        "tekton-warehouse import (validate, keys, strip, upsert)",
        python_cmd(
            "-m", "etl.cli", "import", "--home", str(home), "--config", str(_config(home)), str(objects)
        ),
    )
    sample = min(NAIVE_SAMPLE, total)
    naive = _measure(
        f"naive loop, {sample:,} objects",
        python_cmd("-c", NAIVE_SCRIPT, str(_fresh(work / "naive") / "n.duckdb"), str(objects), str(sample)),
    )
    naive_total_s = naive.seconds * total / sample
    rows = [
        "| step | seconds | peak RSS MB | objects/s | CPU s | load before → after |",
        "|---|---|---|---|---|---|",
        _row(ceiling, f"{total / ceiling.seconds:,.0f}"),
        _row(ours, f"{total / ours.seconds:,.0f}"),
        _row(naive, f"{sample / naive.seconds:,.0f} (extrapolated to {total:,}: {naive_total_s:,.0f} s)"),
    ]
    text = (
        f"### Import of {total:,} objects from NDJSON ({objects.stat().st_size / 1e9:.2f} GB)\n\n"
        + "\n".join(rows)
        + f"\n\nOurs: {ceiling.seconds / ours.seconds:.0%} of the ceiling's throughput (target ≥ 50%), "
        f"{naive_total_s / ours.seconds:.1f}× the naive loop (target ≥ 10×; the naive loop ran on {sample:,} "
        f"objects and was extrapolated linearly); in CPU time ours takes {ours.cpu_seconds / ceiling.cpu_seconds:.1f}× "
        f"the ceiling's. Output: `{ours.output.strip().splitlines()[-1]}`.\n"
    )
    return text, [ceiling, ours, naive]


def _start_server(history: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        python_cmd("-m", "etl.cli", "serve-results", "--data", str(history)),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    while line := process.stdout.readline():
        if line.startswith("port "):
            return process, f"127.0.0.1:{int(line.split()[1])}"
    raise RuntimeError(f"serve-results exited {process.wait()} before printing its port")


def _ingest_section(history: Path, total: int, work: Path) -> str:
    server, target = _start_server(history)
    try:
        home = _fresh(work / "ingest")
        config = _config(home, target)
        command = python_cmd("-m", "etl.cli", "ingest", "--home", str(home), "--config", str(config))
        full = _measure("ingest, empty warehouse, gRPC", command)
        started = time.perf_counter()
        subprocess.run(
            python_cmd("-c", UPDATE_SCRIPT, target, str(history / "records.ndjson"), str(UPDATED_RECORDS)),
            check=True,
        )
        update_s = time.perf_counter() - started
        incremental = _measure(f"incremental ingest after {UPDATED_RECORDS:,} UpdateRecord calls", command)
    finally:
        server.terminate()
        server.wait()
    rows = [
        "| step | seconds | peak RSS MB | notes | CPU s | load before → after |",
        "|---|---|---|---|---|---|",
        _row(full, f"{total / full.seconds:,.0f} records/s; target ≤ 40 s, ≤ 1 GB"),
        _row(
            incremental, f"target ≤ 5 s, ≤ 1 GB (the updates themselves took {update_s:.1f} s, not counted)"
        ),
    ]
    summary = [line for line in incremental.output.splitlines() if " results " in line and "fetched" in line]
    return (
        f"### Ingest of {total:,} records from the local Results server over gRPC\n\n"
        + "\n".join(rows)
        + "\n\nThe server ran in its own process, loaded before timing. Incremental run, per source:\n\n"
        + "\n".join(f"    {line}" for line in summary)
        + "\n"
    )


def main() -> None:
    history = _history()
    work = _fresh(WORK_DIR / "ingest")
    objects = history / "objects.ndjson"
    total = _count_lines(objects)
    import_text, _ = _import_section(objects, total, work)
    print(import_text, flush=True)
    ingest_text = _ingest_section(history, _count_lines(history / "records.ndjson"), work)
    print(ingest_text, flush=True)
    write_section(
        "ingest",
        "## Raw layer: import and ingest\n\n"
        + import_text
        + "\n"
        + ingest_text
        + "\nFigures were taken on a shared 2-core machine while other engineers' builds and tests ran, so "
        "absolute times are noisy; each comparison was measured in the same run.\n\n" + WHERE_THE_TIME_GOES,
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
