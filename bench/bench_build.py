"""Benchmark: `tekton-warehouse build` (dbt) and publish over the 1,000,000-object history.

Steps, each in its own child process (wall time and peak RSS):
- import of the history into the raw layer (setup, recorded for context);
- baseline: one DuckDB pass that parses every stored object once and pulls the staging fields with one multi-path
  `json_extract_string` call (the floor for anything that reads the JSON);
- full build of the core models (`--full-refresh`, staging → marts, data tests included) and of the whole project;
- 1,000 objects changed and re-imported, then the incremental build;
- publish alone, against copying the working file with `cp` (the floor for writing a snapshot).

Targets (brief): full build ≤ 120 s, incremental build ≤ 20 s, publish ≤ 5 s.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

from bench.common import WORK_DIR, Measurement, python_cmd, run_measured, write_section
from etl.build import DBT_PROJECT_DIR, PROJECT_DIR_ENV

CORE_SELECTION = ["path:models/staging", "path:models/intermediate/core", "path:models/marts/core"]
CHANGED_OBJECTS = 1000
TARGETS = {"full": 120.0, "incremental": 20.0, "publish": 5.0}


def _history_dir() -> Path:
    """The shared 1M history (`bench.common.ensure_history`); env BENCH_BUILD_HISTORY names another folder."""
    from bench import common

    if os.environ.get("BENCH_BUILD_HISTORY"):
        return Path(os.environ["BENCH_BUILD_HISTORY"])
    ensure = getattr(common, "ensure_history", None)
    if ensure is None:
        raise SystemExit(
            "bench.common.ensure_history() is not available: set BENCH_BUILD_HISTORY to a generated folder"
        )
    return Path(ensure())


def _cli(*args: str) -> list[str]:
    return python_cmd("-m", "etl.cli", *args)


def _dbt_seconds(measurement: Measurement) -> tuple[float, float]:
    """dbt and publish seconds as `tekton-warehouse build` reports them."""
    found = re.search(r"passed in ([\d.]+)s; published .* in ([\d.]+)s", measurement.output)
    return (float(found.group(1)), float(found.group(2))) if found else (float("nan"), float("nan"))


def _baseline_parse(db: Path) -> Measurement:
    sql = (
        "select count(*), count(s[1]), count(s[4]) from (select json_extract_string(object, ["
        "'$.status.startTime','$.status.completionTime','$.metadata.labels.\"tekton.dev/pipeline\"',"
        "'$.metadata.labels.\"tekton.dev/pipelineTask\"','$.spec.pipelineRef.name']) as s from raw.tekton_objects)"
    )
    code = f"import duckdb; c = duckdb.connect({str(db)!r}, read_only=True); print(c.execute({sql!r}).fetchall())"
    return run_measured("baseline: parse every object once (5 paths, one call)", python_cmd("-c", code))


def _change_objects(db: Path, out: Path, count: int) -> None:
    """Write `count` stored objects back out with a new annotation and a higher resourceVersion (a late update)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            f"""
            select json_merge_patch(
                object,
                json_object('metadata', json_object(
                    'resourceVersion', cast(coalesce(resource_version, 0) + 1 as varchar),
                    'annotations', json_object('bench.tekton.dev/touched', 'yes')))
            )::varchar
            from raw.tekton_objects using sample {count} rows (reservoir, 7)
            """
        ).fetchall()
    finally:
        con.close()
    out.write_text("".join(f"{row[0]}\n" for row in rows))


def _verdict(seconds: float, target: float) -> str:
    return f"target ≤ {target:.0f} s: {'met' if seconds <= target else 'MISSED'}"


def _build_row(measured: Measurement, target: float | None) -> str:
    dbt_s, publish_s = _dbt_seconds(measured)
    notes = f"dbt {dbt_s:.1f} s, publish {publish_s:.1f} s"
    return measured.row(f"{notes}; {_verdict(measured.seconds, target)}" if target else notes)


def _whole_project_rows(home: Path, env: dict[str, str]) -> list[str]:
    rows = []
    for label, extra in (
        ("full build, whole project (+ publish)", ["--full-refresh"]),
        ("rebuild, whole project", []),
    ):
        try:
            rows.append(
                _build_row(run_measured(label, _cli("build", "--home", str(home), *extra), env=env), None)
            )
        except RuntimeError as exc:
            rows.append(f"| {label} | failed | | {str(exc).splitlines()[0][:200]} |")
    return rows


def _publish_cmd(home: Path) -> list[str]:
    code = (
        "from etl.config import WarehousePaths; from etl.publish import publish; "
        f"from pathlib import Path; publish(WarehousePaths(Path({str(home)!r})))"
    )
    return python_cmd("-c", code)


def main() -> None:
    history = _history_dir()
    objects = history / "objects.ndjson"
    home = WORK_DIR / "build-home"
    # BENCH_BUILD_REUSE=1 keeps the raw layer imported by an earlier run (the import is the raw layer's figure).
    reuse = bool(os.environ.get("BENCH_BUILD_REUSE")) and (home / "warehouse.duckdb").exists()
    if not reuse:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
    # Build a snapshot of the project, so edits in the working tree during the run cannot change what is measured.
    project = home / "dbt-project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    env = {"TEKTON_WAREHOUSE_HOME": str(home), PROJECT_DIR_ENV: str(project)}

    import_cmd = _cli("import", "--home", str(home), str(objects))
    imported = run_measured(
        "setup: import objects.ndjson into raw (reused: already imported)"
        if reuse
        else "setup: import objects.ndjson into raw",
        ["true"] if reuse else import_cmd,
    )
    db = home / "warehouse.duckdb"
    baseline = _baseline_parse(db)
    core_full = run_measured(
        "full build, core models (+ publish)",
        _cli("build", "--home", str(home), "--full-refresh", "--select", *CORE_SELECTION),
        env=env,
    )
    changed = home / "changed.ndjson"
    # In a child, so this process stays small: a forked child's peak RSS starts from its parent's.
    run_measured(
        "setup: write changed objects",
        python_cmd("-m", "bench.bench_build", "change", str(db), str(changed), str(CHANGED_OBJECTS)),
    )
    reimport = run_measured(
        f"setup: re-import {CHANGED_OBJECTS} changed objects",
        _cli("import", "--home", str(home), str(changed)),
    )
    core_incremental = run_measured(
        f"incremental build after {CHANGED_OBJECTS} changed objects, core models (+ publish)",
        _cli("build", "--home", str(home), "--select", *CORE_SELECTION),
        env=env,
    )
    # The whole project (other marts too) only on request: it doubles the run and is not this benchmark's target.
    whole = _whole_project_rows(home, env) if os.environ.get("BENCH_BUILD_WHOLE") else []
    copy_baseline = run_measured("baseline: cp warehouse.duckdb", ["cp", str(db), str(home / "copy.duckdb")])
    (home / "copy.duckdb").unlink(missing_ok=True)
    publish_alone = run_measured("publish alone", _publish_cmd(home))

    rows = [
        imported.row(f"{objects.stat().st_size / 1e9:.2f} GB NDJSON"),
        baseline.row("floor for parsing the JSON once"),
        _build_row(core_full, TARGETS["full"]),
        reimport.row("raw layer, for context"),
        _build_row(core_incremental, TARGETS["incremental"]),
        *whole,
        copy_baseline.row(f"{db.stat().st_size / 1e9:.2f} GB working file"),
        publish_alone.row(
            f"{(home / 'tekton.duckdb').stat().st_size / 1e6:.0f} MB serving file; "
            f"{_verdict(publish_alone.seconds, TARGETS['publish'])}"
        ),
    ]
    markdown = "\n".join(
        [
            "## build: dbt models and publish (1,000,000 objects)",
            "",
            f"History: `{history}` ({_count_lines(objects):,} objects). Build = `tekton-warehouse build` in a child "
            "process: dbt startup and parse, models, data tests (unit tests excluded; CI runs them), then publish. "
            "Figures were taken on a shared 2-core machine while other engineers ran their own work, so absolute "
            "times are noisy; compare each row with the baselines measured in the same run.",
            "",
            f"Full core build = {core_full.seconds / baseline.seconds:.1f}× the parse-once baseline; incremental "
            f"build = {core_incremental.seconds / core_full.seconds:.2f}× the full build; publish = "
            f"{publish_alone.seconds / copy_baseline.seconds:.2f}× a `cp` of the working file.",
            "",
            "| step | wall s | peak RSS MB | notes |",
            "|---|---:|---:|---|",
            *rows,
        ]
    )
    write_section("build", markdown)
    print(markdown)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))


if __name__ == "__main__":
    if sys.argv[1:2] == ["change"]:
        _change_objects(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        started = time.perf_counter()
        main()
        print(f"bench build done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
