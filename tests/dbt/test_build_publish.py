"""`run_build` and `publish` end to end: incremental updates, full refresh, readers of the old snapshot, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.build import DBT_PROJECT_DIR, PROJECT_DIR_ENV, BuildError, run_build
from etl.cli import main as cli_main
from etl.config import WarehousePaths
from etl.errors import WarehouseBusyError, WarehouseError
from etl.locking import writer_lock
from etl.publish import publish
from tests.dbt.conftest import CORE_SELECTION
from tests.dbt.hand_made import all_objects
from tests.helpers.tekton_objects import pipeline_run
from tests.helpers.warehouse import make_raw_warehouse, query

CORE_MARTS = (
    "fct_pipeline_runs",
    "fct_task_runs",
    "fct_run_comparisons",
    "fct_task_comparisons",
    "agg_pipeline_daily",
    "agg_reliability_daily",
    "dim_pipelines",
)


def _late_updates() -> list[dict[str, Any]]:
    """The running nightly run finishes, and a new build run fails after the rerun."""
    n2_done = pipeline_run(
        "uid-n2",
        "nightly-fghij",
        generate_name="nightly-",
        api_version="tekton.dev/v1beta1",
        spec={"pipelineSpec": {"tasks": []}},
        created="2024-05-04T01:00:00Z",
        started="2024-05-04T01:00:30Z",
        completed="2024-05-04T01:20:30Z",
        condition=("True", "Succeeded"),
    )
    b4 = pipeline_run(
        "uid-b4",
        "build-4",
        pipeline_ref="build",
        created="2024-05-05T10:00:00Z",
        started="2024-05-05T10:00:01Z",
        completed="2024-05-05T10:01:01Z",
        condition=("False", "PipelineRunTimeout"),
        params={"REPO_URL": "git@GitHub.com:Org/App.git", "revision": "DEF5678", "flags": ["-v", "-race"]},
    )
    return [n2_done, b4]


def _snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(query(db, f"select * from marts.{table}"), key=repr) for table in CORE_MARTS}


N2_STATUS_SQL = "select status from marts.fct_pipeline_runs where pipeline_run_uid = 'uid-n2'"


def _query_in_another_process(db: Path, sql: str) -> list[list[Any]]:
    """A reader in its own process, as Streamlit or an analyst would be (duckdb caches open files per process)."""
    code = (
        "import duckdb, json, sys; "
        "con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(con.execute(sys.argv[2]).fetchall()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), sql], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def incremental_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build, keep a reader open on the published file, land late updates, build incrementally again."""
    paths = WarehousePaths(tmp_path_factory.mktemp("incremental") / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects())
    run_build(paths, select=CORE_SELECTION)
    reader = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        before = reader.execute(N2_STATUS_SQL).fetchall()
        make_raw_warehouse(paths.warehouse_db, _late_updates())
        second = run_build(paths, select=CORE_SELECTION)
        seen = {
            "old_reader": reader.execute(N2_STATUS_SQL).fetchall(),
            "old_reader_runs": reader.execute("select count(*) from marts.fct_pipeline_runs").fetchall(),
            "new_reader": _query_in_another_process(paths.serving_db, N2_STATUS_SQL),
        }
    finally:
        reader.close()
    return {"paths": paths, "second": second, "before": before, **seen}


@pytest.mark.slow
def test_open_reader_keeps_old_snapshot_while_build_publishes(incremental_home: dict[str, Any]) -> None:
    paths = incremental_home["paths"]
    assert incremental_home["second"].published == paths.serving_db
    assert incremental_home["before"] == [("running",)]
    assert incremental_home["old_reader"] == [("running",)]
    assert incremental_home["old_reader_runs"] == [(5,)]
    assert incremental_home["new_reader"] == [["succeeded"]]
    assert not list(paths.home.glob("tekton.duckdb.tmp-*"))


@pytest.mark.slow
def test_dbt_process_closes_the_warehouse_before_it_exits(incremental_home: dict[str, Any]) -> None:
    """The dbt child leaves with os._exit (etl.dbt_process): it must have closed DuckDB first, which checkpoints
    the build's writes into the file and removes the write-ahead log."""
    assert not incremental_home["paths"].warehouse_db.with_name("warehouse.duckdb.wal").exists()


@pytest.mark.parametrize(
    ("args", "code", "output"),
    [(["--version"], 0, "Core:"), (["no-such-command"], 2, "No such command")],
)
def test_dbt_process_passes_on_dbt_exit_status(args: list[str], code: int, output: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl.dbt_process", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == code
    assert output in done.stdout + done.stderr


@pytest.mark.slow
def test_incremental_build_applies_late_updates(incremental_home: dict[str, Any]) -> None:
    db = incremental_home["paths"].serving_db
    runs = dict(query(db, "select pipeline_run_uid, status from marts.fct_pipeline_runs"))
    assert runs["uid-n2"] == "succeeded" and runs["uid-b4"] == "timed_out" and len(runs) == 6
    comparison = query(
        db,
        "select previous_run_uid, transition, commit_changed, params_changed "
        "from marts.fct_run_comparisons where pipeline_run_uid = 'uid-b4'",
    )
    assert comparison == [("uid-b3", "regressed", False, [])]
    staged = query(
        incremental_home["paths"].warehouse_db,
        "select count(*) from staging.stg_tekton__pipeline_runs where pipeline_run_uid = 'uid-n2'",
    )
    assert staged == [(1,)]


@pytest.mark.slow
def test_full_refresh_gives_the_same_marts_as_incremental(incremental_home: dict[str, Any]) -> None:
    paths = incremental_home["paths"]
    incremental = _snapshot(paths.serving_db)
    report = run_build(paths, select=CORE_SELECTION, full_refresh=True, docs=True)
    assert _snapshot(paths.serving_db) == incremental
    assert report.docs_dir is not None and (report.docs_dir / "index.html").exists()
    assert (report.docs_dir / "manifest.json").exists()


@pytest.mark.slow
def test_failing_model_is_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "dbt"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(DBT_PROJECT_DIR / name, project / name)
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    (project / "models" / "staging").mkdir(parents=True)
    (project / "models" / "staging" / "broken_on_purpose.sql").write_text(
        "{{ config(materialized='table') }}\nselect error('boom on purpose') as x\n"
    )
    monkeypatch.setenv(PROJECT_DIR_ENV, str(project))
    paths = WarehousePaths(tmp_path / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects()[:1])
    with pytest.raises(BuildError) as failure:
        run_build(paths, select=["broken_on_purpose"])
    message = str(failure.value)
    assert "\n" not in message
    assert "model" in message and "broken_on_purpose" in message and "boom on purpose" in message
    assert str(paths.dbt_log_dir / "dbt.log") in message
    assert not paths.serving_db.exists()


def test_build_without_warehouse_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["build", "--home", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no warehouse at" in err and "import" in err


def test_build_refuses_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    paths = WarehousePaths(tmp_path / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects()[:1])
    with writer_lock(paths), pytest.raises(WarehouseBusyError):
        run_build(paths, wait_s=0)


def test_publish_without_marts_fails_cleanly_and_leaves_no_temp_file(tmp_path: Path) -> None:
    paths = WarehousePaths(tmp_path / "home").ensure()
    make_raw_warehouse(paths.warehouse_db, all_objects()[:1])
    with pytest.raises(WarehouseError, match="no tables in schema marts"):
        publish(paths)
    assert sorted(p.name for p in paths.home.iterdir()) == ["warehouse.duckdb"]
