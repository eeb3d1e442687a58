"""Benchmark: the raw layer's two bulk paths, each against a baseline measured in the same run.

1. `tekton-warehouse import` of the generated history's objects.ndjson, against the ceiling (DuckDB's own
   `read_ndjson_objects` of the same file into a table, no validation or keys), against the bound (the same read
   plus the JSON work every loader must do per object, in one DuckDB statement) and against a naive loop
   (`json.loads` per object, five fields, one INSERT per row), run on a sample and extrapolated.
2. `tekton-warehouse ingest` of the whole records.ndjson from the local Results server over gRPC, end to end;
   then an incremental run after 1,000 records were updated on the server.
Every measured step runs in its own child process (wall time and peak RSS from `bench.common.run_measured`).

Env: BENCH_INGEST_HISTORY = a generated folder to use instead of `bench.common.ensure_history()` (smoke runs);
BENCH_INGEST_NAIVE_SAMPLE = objects for the naive loop (default 50,000); BENCH_INGEST_ROUNDS = rounds of the
ceiling, the bound and the import, each reported as its median round (default 3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import WORK_DIR, Measurement, median_round, python_cmd, run_measured, write_section

NAIVE_SAMPLE = int(os.environ.get("BENCH_INGEST_NAIVE_SAMPLE", "50000"))
UPDATED_RECORDS = 1000
IMPORT_ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "3"))

CEILING_SCRIPT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE t AS SELECT * FROM read_ndjson_objects(?)", [sys.argv[2]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

# What DuckDB alone takes for the per-object SQL work the import cannot skip (the key fields and the verdict's types,
# one JSON parse each, and the strip of bulky fields), in one statement on DuckDB's own threads, with none of the
# loader's bookkeeping (rejects, in-batch dedupe, upsert, hashes, commits, source refs). Same paths and patch as
# etl/warehouse/load.py. It tells how close to the ceiling a loader built on DuckDB's JSON functions can get at all.
BOUND_SCRIPT = """
import duckdb, sys
from etl.warehouse.load import _KEY_PATHS, _STRIP_ALL_PATCH, _TYPE_PATHS
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
sql = f'''
    CREATE TABLE t AS
    SELECT f[1] AS uid, f[2] AS kind, f[3] AS api_version, f[4] AS namespace, f[5] AS name,
           try_cast(f[6] AS TIMESTAMPTZ) AS creation_timestamp, try_cast(f[7] AS BIGINT) AS resource_version,
           types[1] = 'OBJECT' AND types[4] = 'VARCHAR' AS valid,
           CASE WHEN types[7] IS NOT NULL OR types[8] IS NOT NULL OR types[9] IS NOT NULL
                THEN json_merge_patch(txt, '{_STRIP_ALL_PATCH}') ELSE txt END AS object
    FROM (
        SELECT json AS txt, json_type(json, {_TYPE_PATHS!r}) AS types,
               json_extract_string(json, {_KEY_PATHS!r}) AS f
        FROM read_ndjson_objects(?)
    )
'''
con.execute(sql, [sys.argv[2]])
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
fields, the content hash) and the writer's (rejects, the stored-uid lookup when a batch may need it, the append,
commits every 120,000 objects); DuckDB runs one thread per statement. Per object, a JSON parse costs ~5 us and the
strip of an object with bulky fields (json_merge_patch: a parse, a mutable copy of the whole document, a write)
13-20 us; about 37% of the generated objects carry such fields. The append pays DuckDB's UTF-8 scan of every string
for column statistics and block checksums. By library (perf, a 1M gRPC ingest): DuckDB 49%, libc 20% (mostly
memmove), kernel 16%, Python 6%, protobuf 3%, Arrow 2%.

The host moves this ratio more than the code does. On the shared hosts the benchmarks ran on until 2026-11-22 (top
of this file), the import took 2.6x the ceiling's CPU (56 vs 22 s) and reached 30-45% of its throughput; on the host
of 2026-11-23 it took 1.2-1.5x (24-31 vs 19-24 s) and reached 71-90%, with the same code. The ceiling is one
parallel scan inside DuckDB and took about the same time on both; the loader also pays for work that costs more on a
slower core: Python cutting lines into pages, a statement per batch, and page faults (1.4 million in a 1M ingest, ~3
us each even here). glibc's trim threshold is raised to 16 MB for that reason (etl/warehouse/load.py): at its
default, each freed block of a few MB was given back and faulted in again (2.5 million faults, 15.8 s of system time
in a 1M ingest on the older host).

The bound row is DuckDB alone doing the JSON work every loader must do per object (keys, types, strip) as one
streaming statement that reads the file itself on DuckDB's threads, without source refs, hashes, rejects, dedupe,
upsert or commits. Where the loader falls well short of the bound (the older hosts: 63% of it), the next step is a
file path of that shape: files have no watermark (a killed import is run again), so a file could be loaded by such
a statement per commit-sized slice, read by DuckDB itself.

Measured without gain: the stage's materialised text replaced by a positional join, one json_transform instead of
the two parses (6.5 vs 7.4 us per object), DuckDB's allocator settings (allocator_flush_threshold, block allocator),
Arrow on the system allocator or a longer mimalloc purge delay, a column-wise page build in the client; earlier:
one JSON parse instead of two (json_extract of `status` re-serialises it), spotting bulky objects by text, two stage
threads (peak RSS 1,000 MB at 200k), uncompressed columns, DuckDB's own parallelism (threads=2 cost ~30% more CPU),
`force_compression`. Earlier gains: the stored-uid lookup only for batches that may meet a stored uid (64-bit uid
hashes kept in memory), the stage as one pipeline without a join and a sort, no reject or repeated-uid statements
for batches that need none, NDJSON lines cut by a memchr per line. Smaller levers left: zero-copy NDJSON lines (Arrow
binary views instead of a sliced copy, ~1-2 s of CPU per 1M), a strip without the mutable copy of the whole
document (DuckDB offers none)."""


def _row(measured: Measurement, notes: str) -> str:
    return measured.row(
        f"{notes} | {measured.cpu_seconds:.1f} | {measured.load_before:.1f} → {measured.load_after:.1f}"
    )


def _import_section(objects: Path, total: int, work: Path) -> tuple[str, list[Measurement]]:
    steps = [
        (
            "ceiling",
            "DuckDB read_ndjson_objects → table (ceiling)",
            lambda: python_cmd(
                "-c", CEILING_SCRIPT, str(_fresh(work / "ceiling") / "c.duckdb"), str(objects)
            ),
        ),
        (
            "bound",
            "DuckDB alone, one statement: keys, types and strip (bound)",
            lambda: python_cmd("-c", BOUND_SCRIPT, str(_fresh(work / "bound") / "b.duckdb"), str(objects)),
        ),
        (
            "ours",
            "tekton-warehouse import (validate, keys, strip, upsert)",
            lambda: _import_cmd(_fresh(work / "import"), objects),
        ),
    ]
    (ceiling, bound, ours), rounds_text = _median_rounds(steps)
    sample = min(NAIVE_SAMPLE, total)
    naive = run_measured(
        f"naive loop, {sample:,} objects",
        python_cmd("-c", NAIVE_SCRIPT, str(_fresh(work / "naive") / "n.duckdb"), str(objects), str(sample)),
    )
    naive_total_s = naive.seconds * total / sample
    rows = [
        "| step | seconds | peak RSS MB | objects/s | CPU s | load before → after |",
        "|---|---|---|---|---|---|",
        _row(ceiling, f"{total / ceiling.seconds:,.0f}"),
        _row(bound, f"{total / bound.seconds:,.0f}"),
        _row(ours, f"{total / ours.seconds:,.0f}"),
        _row(naive, f"{sample / naive.seconds:,.0f} (extrapolated to {total:,}: {naive_total_s:,.0f} s)"),
    ]
    text = (
        f"### Import of {total:,} objects from NDJSON ({objects.stat().st_size / 1e9:.2f} GB)\n\n"
        + "\n".join(rows)
        + f"\n\nThe first three rows are each the median of {IMPORT_ROUNDS} rounds, run in turns so that each "
        f"round of the three meets the same machine ({rounds_text}); the naive loop runs once. "
        f"Ours: {ceiling.seconds / ours.seconds:.0%} of the ceiling's throughput (target ≥ 50%), "
        f"{naive_total_s / ours.seconds:.1f}× the naive loop (target ≥ 10×; the naive loop ran on {sample:,} "
        f"objects and was extrapolated linearly); in CPU time ours takes "
        f"{ours.cpu_seconds / ceiling.cpu_seconds:.1f}× the ceiling's. The bound (DuckDB's JSON functions alone "
        f"doing the per-object work every loader must do, without its bookkeeping) reaches "
        f"{ceiling.seconds / bound.seconds:.0%} of the ceiling; ours reaches "
        f"{bound.seconds / ours.seconds:.0%} of the bound. Output: `{ours.output.strip().splitlines()[-1]}`.\n"
    )
    return text, [ceiling, bound, ours, naive]


def _import_cmd(home: Path, objects: Path) -> list[str]:
    return python_cmd(
        "-m", "etl.cli", "import", "--home", str(home), "--config", str(_config(home)), str(objects)
    )


def _median_rounds(steps: list[tuple[str, str, Callable[[], list[str]]]]) -> tuple[list[Measurement], str]:
    """IMPORT_ROUNDS rounds of every step (short name, label, command maker) in turn, each command made afresh on
    fresh files; per step the median round, and every round's seconds as text. Wall times on this shared machine
    vary by a third between runs of the same import (35-50 s, measured), so one run per step would compare the other
    tenants' load as much as the code."""
    rounds: list[list[Measurement]] = [[] for _ in steps]
    for index in range(IMPORT_ROUNDS):
        for (_, label, make_cmd), measured in zip(steps, rounds, strict=True):
            measured.append(run_measured(f"{label}, round {index + 1}", make_cmd()))
    medians, texts = [], []
    for (short, label, _), measured in zip(steps, rounds, strict=True):
        _, median, times = median_round(measured, label)
        medians.append(median)
        texts.append(f"{short} {times} s")
    return medians, "; ".join(texts)


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
        full = run_measured("ingest, empty warehouse, gRPC", command)
        started = time.perf_counter()
        subprocess.run(
            python_cmd("-c", UPDATE_SCRIPT, target, str(history / "records.ndjson"), str(UPDATED_RECORDS)),
            check=True,
        )
        update_s = time.perf_counter() - started
        incremental = run_measured(
            f"incremental ingest after {UPDATED_RECORDS:,} UpdateRecord calls", command
        )
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
