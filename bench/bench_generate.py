"""Benchmark `tekton-warehouse generate`: the 30-day/40-pipeline demo history and a 1,000,000-object history.

Baseline (same run, same machine): a child that only `json.dumps`es the same number of objects, cycling through
real generated objects as templates, and writes them to one file: the floor for any generator in Python that writes
JSON. The generator writes two files (objects and records) and simulates every run, so it cannot reach the floor.
"""

from __future__ import annotations

import fcntl
import shutil
import textwrap
from pathlib import Path

from bench.common import (
    WORK_DIR,
    Measurement,
    ensure_history,
    history_flags,
    python_cmd,
    run_measured,
    write_section,
)

MILLION = 1_000_000

BASELINE = textwrap.dedent(
    """
    import itertools, json, sys
    templates = [json.loads(line) for line, _ in zip(open(sys.argv[1]), range(200))]
    encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    with open(sys.argv[2], "w", buffering=1 << 20) as out:
        for obj in itertools.islice(itertools.cycle(templates), int(sys.argv[3])):
            out.write(encode(obj) + "\\n")
    """
)


def _count_lines(path) -> int:  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return sum(buf.count(b"\n") for buf in iter(lambda: handle.read(1 << 20), b""))


def _generate(label: str, out, flags: list[str]) -> tuple[Measurement, int]:  # type: ignore[no-untyped-def]
    shutil.rmtree(out, ignore_errors=True)
    measured = run_measured(label, python_cmd("-m", "etl.cli", "generate", "--out", str(out), *flags))
    return measured, _count_lines(out / "objects.ndjson")


def _baseline(label: str, templates, count: int) -> Measurement:  # type: ignore[no-untyped-def]
    sink = WORK_DIR / "baseline.ndjson"
    measured = run_measured(label, python_cmd("-c", BASELINE, str(templates), str(sink), str(count)))
    sink.unlink(missing_ok=True)
    return measured


def _adopt_history(out: Path, objects: int) -> Path:
    """The measured output is exactly what ensure_history() generates: hand it over (under its lock) instead of
    generating it again, unless another benchmark already did."""
    target = WORK_DIR / f"history-{objects}"
    with (WORK_DIR / ".generate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "ground_truth.json").exists():
            shutil.rmtree(target, ignore_errors=True)
            out.rename(target)
    shutil.rmtree(out, ignore_errors=True)
    return ensure_history(objects)


def main() -> None:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    demo_out = WORK_DIR / "generate-demo"
    demo, demo_objects = _generate(
        "generate 30 d / 40 pipelines", demo_out, ["--days", "30", "--pipelines", "40", "--seed", "1"]
    )
    demo_base = _baseline("json.dumps floor, same count", demo_out / "objects.ndjson", demo_objects)
    big_out = WORK_DIR / "generate-1m"
    big, big_objects = _generate("generate ~1M objects", big_out, history_flags(MILLION))
    big_base = _baseline("json.dumps floor, same count", big_out / "objects.ndjson", big_objects)
    target = _adopt_history(big_out, MILLION)
    size_gb = sum(p.stat().st_size for p in target.glob("*.ndjson")) / 2**30

    def rate(m: Measurement, n: int) -> str:
        return f"{n:,} objects, {n / m.seconds:,.0f} objects/s"

    rows = "\n".join(
        [
            demo.row(rate(demo, demo_objects)),
            demo_base.row(f"{demo.seconds / demo_base.seconds:.1f}x faster than the generator"),
            big.row(rate(big, big_objects) + f", {size_gb:.1f} GiB written (objects + records)"),
            big_base.row(f"{big.seconds / big_base.seconds:.1f}x faster than the generator"),
        ]
    )
    write_section(
        "generate",
        f"""
## Synthetic history generator (`tekton-warehouse generate`)

| step | seconds | peak RSS MB | notes |
|---|---|---|---|
{rows}

The 1M history uses `{" ".join(history_flags(MILLION))}` (what `bench.common.ensure_history()` generates).
Memory stays flat: peak RSS of the 1M run against the 30-day demo run is {big.peak_rss_mb:.0f} MB vs
{demo.peak_rss_mb:.0f} MB (the remainder is per-pipeline state and runs in flight, not history). The generator writes
two files (objects and Results records) and simulates every run; the floor only encodes objects into one file.
Figures were taken on a shared machine (2 cores, other engineers' jobs running), so wall times are noisy.
""",
    )
    print((WORK_DIR.parent / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
