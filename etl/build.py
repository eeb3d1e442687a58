"""`tekton-warehouse build`: run the dbt project on the working file, then publish the serving file.

dbt runs in a child process (`python -m etl.dbt_process`, dbt's own CLI): its logging and global state stay out
of ours, and a crash in dbt cannot take the caller (Dagster, the CLI, a test) down with it. Everything it writes
goes under `<home>/dbt/` (target, logs, docs). The build holds the writer lock so it never races an ingest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from etl.config import WarehousePaths, resolve_home
from etl.errors import WarehouseError
from etl.locking import writer_lock

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"
DB_ENV = "TEKTON_WAREHOUSE_DB"
# The marts' own DuckDB file (dbt/profiles.yml attaches it as `marts_db`): publish serves a copy of it.
MARTS_DB_ENV = "TEKTON_WAREHOUSE_MARTS_DB"
# Points the build at another copy of the dbt project (development, tests of a trimmed project).
PROJECT_DIR_ENV = "TEKTON_WAREHOUSE_DBT_PROJECT"
# dbt's file log level (debug | info | warn | error | none). Info by default: dbt's debug lines (every query, every
# cache event), each scrubbed for secrets, cost a large share of a build's CPU; set debug to investigate.
LOG_LEVEL_ENV = "TEKTON_WAREHOUSE_DBT_LOG_LEVEL"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DBT_HEADER = re.compile(r"^(Runtime|Database|Compilation|Parsing) Error( in .*)?$")
DOCS_FILES = ("index.html", "manifest.json", "catalog.json", "run_results.json")


class BuildError(WarehouseError):
    """dbt failed: the message names the failing model or test and the log file."""


@dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation did: per-node statuses from run_results.json, and where its log is."""

    command: str
    seconds: float
    statuses: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None

    @property
    def passed(self) -> int:
        return sum(1 for status in self.statuses.values() if status in ("success", "pass"))


@dataclass(frozen=True)
class BuildReport:
    """Outcome of `run_build`: dbt's result, the published file and the time each step took."""

    dbt: DbtResult
    published: Path | None
    publish_seconds: float
    docs_dir: Path | None = None

    def summary(self) -> str:
        parts = [f"dbt build: {self.dbt.passed} nodes passed in {self.dbt.seconds:.1f}s"]
        if self.published:
            parts.append(f"published {self.published} in {self.publish_seconds:.1f}s")
        if self.docs_dir:
            parts.append(f"docs in {self.docs_dir}")
        return "; ".join(parts)


def marts_db_path(db_path: Path) -> Path:
    """The file dbt builds the marts into, next to the working file: `<home>/warehouse.marts.duckdb`."""
    return db_path.with_name(f"{db_path.stem}.marts{db_path.suffix}")


def database_env(db_path: Path) -> dict[str, str]:
    """The variables dbt/profiles.yml reads: the working file and the marts file next to it."""
    return {DB_ENV: str(db_path), MARTS_DB_ENV: str(marts_db_path(db_path))}


def needs_full_refresh(db_path: Path, requested: bool) -> bool:
    """Without the marts file (first build, or lost) the incremental models of the working file cannot be keyed on
    the marts' old rows, so the build must be a full refresh."""
    return requested or not marts_db_path(db_path).exists()


def file_log_args() -> list[str]:
    """dbt's file log level: info unless LOG_LEVEL_ENV asks otherwise."""
    return ["--log-level-file", os.environ.get(LOG_LEVEL_ENV, "info")]


def dbt_env(db_path: Path, target_dir: Path, log_dir: Path) -> dict[str, str]:
    """Environment for a dbt child: the DuckDB files, and target/log folders outside the repo."""
    return {
        **os.environ,
        **database_env(db_path),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(log_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "true",
    }


def invoke_dbt(
    db_path: Path,
    args: Sequence[str],
    *,
    target_dir: Path,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    """Run one dbt command on `db_path`; raise `BuildError` naming the first failing node when it fails."""
    target_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    run_results = target_dir / "run_results.json"
    run_results.unlink(missing_ok=True)
    project_dir = dbt_project_dir()
    cmd = [
        sys.executable,
        "-m",
        "etl.dbt_process",
        "--no-use-colors",
        *file_log_args(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env={**dbt_env(db_path, target_dir, log_dir), **(extra_env or {})},
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    log_file = log_dir / "dbt.log"
    statuses = _read_statuses(run_results)
    if proc.returncode != 0:
        raise BuildError(_failure_line(args[0], statuses, run_results, proc.stdout + proc.stderr, log_file))
    return DbtResult(command=args[0], seconds=seconds, statuses=statuses, log_file=log_file)


def dbt_project_dir() -> Path:
    """The repo's dbt project, unless env TEKTON_WAREHOUSE_DBT_PROJECT names another copy."""
    override = os.environ.get(PROJECT_DIR_ENV)
    return Path(override).resolve() if override else DBT_PROJECT_DIR


def _read_statuses(run_results: Path) -> dict[str, str]:
    if not run_results.exists():
        return {}
    results = json.loads(run_results.read_text()).get("results", [])
    return {r["unique_id"]: r["status"] for r in results}


def _failure_line(
    command: str, statuses: dict[str, str], run_results: Path, output: str, log_file: Path
) -> str:
    """One readable line: which node failed, dbt's first message line for it, and where the full log is."""
    failed = [uid for uid, status in statuses.items() if status in ("error", "fail", "runtime error")]
    if failed and run_results.exists():
        first = failed[0]
        messages = {
            r["unique_id"]: r.get("message") or "" for r in json.loads(run_results.read_text())["results"]
        }
        detail = _first_meaningful_line(messages.get(first, ""))
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return f"dbt {command} failed at {_node_label(first)}{more}: {detail}; full log: {log_file}"
    detail = _first_meaningful_line(_last_error_block(_ANSI.sub("", output)))
    return f"dbt {command} failed: {detail}; full log: {log_file}"


def _node_label(unique_id: str) -> str:
    kind, _, rest = unique_id.partition(".")
    return f"{kind} {rest.split('.', 1)[-1]}"


def _last_error_block(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if "Error" in line or "error" in line:
            return " ".join(part.strip() for part in lines[index : index + 3])
    return lines[-1] if lines else "no output"


def _first_meaningful_line(text: str) -> str:
    """dbt's message starts with a header ("Runtime Error in model x (path)"); the engine's own line says why."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "Error:" in line or "error:" in line:
            return line[:300]
    for line in lines:
        if not _DBT_HEADER.match(line):
            return line[:300]
    return lines[0][:300] if lines else "no message"


def run_build(
    paths: WarehousePaths,
    *,
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    wait_s: float = 0,
    docs: bool = False,
    publish_after: bool = True,
    unit_tests: bool = False,
) -> BuildReport:
    """Build the dbt project on `<home>/warehouse.duckdb` under the writer lock, then publish `tekton.duckdb`."""
    from etl.publish import publish

    with writer_lock(paths, wait_s=wait_s, purpose="build"):
        if not paths.warehouse_db.exists():
            raise WarehouseError(
                f"no warehouse at {paths.warehouse_db}; run 'tekton-warehouse ingest' or 'import' first"
            )
        args = build_args(paths, full_refresh=full_refresh, select=select, unit_tests=unit_tests)
        result = invoke_dbt(
            paths.warehouse_db, args, target_dir=paths.dbt_target_dir, log_dir=paths.dbt_log_dir
        )
        docs_dir = generate_docs(paths) if docs else None
        started = time.perf_counter()
        published = publish(paths) if publish_after else None
        publish_seconds = time.perf_counter() - started
    return BuildReport(dbt=result, published=published, publish_seconds=publish_seconds, docs_dir=docs_dir)


def build_args(
    paths: WarehousePaths,
    *,
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    unit_tests: bool = False,
) -> list[str]:
    """The `dbt build` arguments; prepares the marts file for a full refresh (`needs_full_refresh`).

    A full refresh of the whole project starts a new marts file: every mart is rebuilt anyway, and the file then
    holds no space left by the tables it replaced (publish copies the whole file)."""
    marts_db = marts_db_path(paths.warehouse_db)
    full_refresh = needs_full_refresh(paths.warehouse_db, full_refresh)
    if full_refresh and not select:
        remove_database_file(marts_db)
    # Unit tests check the SQL, not the data: CI runs them (`dbt test --select test_type:unit`), builds skip them.
    args = ["build"] if unit_tests else ["build", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        # Only tests whose every parent is selected: a test that also reads an unselected mart would fail.
        args += ["--select", *select, "--indirect-selection", "cautious"]
    return args


def remove_database_file(db_path: Path) -> None:
    for candidate in (db_path, db_path.with_name(db_path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def generate_docs(paths: WarehousePaths) -> Path:
    """`dbt docs generate`, copied to `<home>/dbt/docs/` as a static site (open index.html, or serve the folder)."""
    invoke_dbt(
        paths.warehouse_db,
        ["docs", "generate", "--static"],
        target_dir=paths.dbt_target_dir,
        log_dir=paths.dbt_log_dir,
    )
    docs_dir = paths.home / "dbt" / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    for name in (*DOCS_FILES, "static_index.html"):
        source = paths.dbt_target_dir / name
        if source.exists():
            shutil.copy2(source, docs_dir / name)
    return docs_dir


def _run_command(args: argparse.Namespace) -> int:
    paths = resolve_home(args.home)
    report = run_build(
        paths,
        full_refresh=args.full_refresh,
        select=args.select,
        wait_s=args.wait,
        docs=args.docs,
    )
    print(report.summary())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from etl.cli import add_home_argument

    parser = subparsers.add_parser(
        "build",
        help="run the dbt models on the warehouse and publish tekton.duckdb",
        description=(
            "Run `dbt build` (models and tests) on <home>/warehouse.duckdb, then publish the marts atomically to "
            "<home>/tekton.duckdb. With --docs, also write the dbt docs site to <home>/dbt/docs/."
        ),
    )
    add_home_argument(parser)
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    parser.add_argument("--select", nargs="+", default=None, metavar="SELECTOR", help="dbt node selection")
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="S",
        help="wait up to S seconds for a running ingest or build",
    )
    parser.add_argument(
        "--docs", action="store_true", help="also generate the dbt docs into <home>/dbt/docs/"
    )
    parser.set_defaults(func=_run_command)
