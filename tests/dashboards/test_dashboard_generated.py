"""The dashboards on a warehouse made by the real pipeline: generate → import → dbt build → publish → summary.

The hand-made fixture proves the pages against the documented columns; this proves them against what the dbt
models actually publish (types, list columns, nulls), with expected values computed by our own SQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from etl.build import run_build
from etl.config import WarehousePaths

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = str(REPO_ROOT / "dashboards" / "streamlit_app.py")
PAGES = ["overview", "trends", "flakiness", "comparison", "lineage", "failures", "sql"]


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "etl.cli", *args], cwd=REPO_ROOT, check=True, capture_output=True)


@pytest.fixture(scope="module")
def generated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    home = root / "warehouse"
    _cli("generate", "--out", str(root / "history"), "--days", "10", "--pipelines", "8", "--runs-per-day", "2",
         "--format", "ndjson")  # fmt: skip
    _cli("import", "--home", str(home), str(root / "history" / "objects.ndjson"))
    run_build(WarehousePaths(home))
    _cli("summary", "--home", str(home))
    return home


@pytest.fixture
def home_env(generated_home: Path) -> Iterator[Path]:
    previous = os.environ.get("TEKTON_WAREHOUSE_HOME")
    os.environ["TEKTON_WAREHOUSE_HOME"] = str(generated_home)
    try:
        yield generated_home / "tekton.duckdb"
    finally:
        if previous is None:
            os.environ.pop("TEKTON_WAREHOUSE_HOME", None)
        else:
            os.environ["TEKTON_WAREHOUSE_HOME"] = previous


def _app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _one(path: Path, text: str) -> tuple:
    data.close_readers()  # DuckDB shares one instance per path in a process: read the file as it is now
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(text).fetchone()
    finally:
        con.close()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_the_published_marts(home_env: Path, page: str) -> None:
    at = _app(page)
    assert not any("missing" in w.value for w in at.warning)


def test_overview_numbers_and_summary_come_from_the_published_file(home_env: Path) -> None:
    at = _app("overview")
    last = _one(home_env, "SELECT max(day) FROM marts.agg_pipeline_daily")[0]
    runs, rate = _one(
        home_env,
        "SELECT sum(runs), sum(succeeded) / nullif(sum(succeeded) + sum(failed) + sum(timed_out), 0) "
        f"FROM marts.agg_pipeline_daily WHERE day > DATE '{last}' - 30",
    )
    (flaky,) = _one(home_env, "SELECT count(*) FROM marts.fct_flaky_pipelines WHERE is_flaky")
    assert runs > 0
    assert _metric(at, "Runs") == f"{runs:,}"
    assert _metric(at, "Success rate") == f"{rate * 100:.2f}%"
    assert _metric(at, "Flaky pipelines") == str(flaky)
    assert any(c.value.startswith("reports/daily/") for c in at.caption), "the summary written by `summary`"


def test_failures_page_counts_the_failures_mart(home_env: Path) -> None:
    at = _app("failures")
    (failures,) = _one(home_env, "SELECT count(*) FROM marts.fct_failures")
    assert failures > 0
    assert _metric(at, "Failing runs") == f"{failures:,}"


def _all(path: Path, text: str) -> list[tuple]:
    data.close_readers()
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


# Each dashboard read model against the contract mart it is derived from: (name, rows only in the read model or
# only in the mart, computed with our own SQL). Every query must return no rows.
READ_MODEL_DIFFERENCES = {
    "fct_pipeline_run_days": """
        (SELECT pipeline_run_uid, status, duration_s, queue_s, transition, previous_run_uid
         FROM marts.fct_pipeline_run_days
         EXCEPT
         SELECT p.pipeline_run_uid, p.status, p.duration_s, p.queue_s, c.transition, c.previous_run_uid
         FROM marts.fct_pipeline_runs p JOIN marts.fct_run_comparisons c USING (cluster, pipeline_run_uid))
        UNION ALL
        (SELECT p.pipeline_run_uid, p.status, p.duration_s, p.queue_s, c.transition, c.previous_run_uid
         FROM marts.fct_pipeline_runs p JOIN marts.fct_run_comparisons c USING (cluster, pipeline_run_uid)
         EXCEPT
         SELECT pipeline_run_uid, status, duration_s, queue_s, transition, previous_run_uid
         FROM marts.fct_pipeline_run_days)
    """,
    "fct_failure_days": """
        (SELECT run_uid, cause, exit_code FROM marts.fct_failure_days
         EXCEPT SELECT run_uid, cause, exit_code FROM marts.fct_failures)
        UNION ALL
        (SELECT run_uid, cause, exit_code FROM marts.fct_failures
         EXCEPT SELECT run_uid, cause, exit_code FROM marts.fct_failure_days)
    """,
    "fct_lineage_graph": """
        WITH graph AS (
            SELECT s.node_kind AS source_kind, s.node_id AS source_id, t.node_kind AS target_kind,
                   t.node_id AS target_id, g.relation, g.observed_at
            FROM marts.fct_lineage_graph g
            JOIN marts.fct_lineage_nodes s ON s.node_key = g.source_key
            JOIN marts.fct_lineage_nodes t ON t.node_key = g.target_key
        ), edges AS (
            SELECT source_kind, source_id, target_kind, target_id, relation, observed_at FROM marts.fct_lineage_edges
        )
        (SELECT * FROM graph EXCEPT ALL SELECT * FROM edges)
        UNION ALL
        (SELECT * FROM edges EXCEPT ALL SELECT * FROM graph)
    """,
    "fct_flaky_evidence_runs": """
        (SELECT failed_uid, passing_uid, kind FROM marts.fct_flaky_evidence_runs
         EXCEPT SELECT failed_uid, passing_uid, kind FROM marts.fct_flaky_evidence)
        UNION ALL
        (SELECT failed_uid, passing_uid, kind FROM marts.fct_flaky_evidence
         EXCEPT SELECT failed_uid, passing_uid, kind FROM marts.fct_flaky_evidence_runs)
    """,
    # The values decide "changed" exactly as fct_run_comparisons did: the same canonical JSON text.
    "fct_run_values": """
        WITH pairs AS (
            SELECT pipeline_run_uid AS cur, previous_run_uid AS prev, params_changed, results_changed
            FROM marts.fct_run_comparisons WHERE previous_run_uid IS NOT NULL
        ), sides AS (
            SELECT p.cur, v.value_kind, v.name, 'cur' AS side, coalesce(v.value_json, 'null') AS j
            FROM pairs p JOIN marts.fct_run_values v ON v.run_uid = p.cur
            UNION ALL
            SELECT p.cur, v.value_kind, v.name, 'prev', coalesce(v.value_json, 'null')
            FROM pairs p JOIN marts.fct_run_values v ON v.run_uid = p.prev
        ), changed AS (
            SELECT cur, value_kind, name FROM sides GROUP BY ALL
            HAVING count(DISTINCT side) < 2 OR count(DISTINCT j) > 1
        ), listed AS (
            SELECT cur, 'param' AS value_kind, unnest(params_changed) AS name FROM pairs
            UNION ALL
            SELECT cur, 'result', unnest(results_changed) FROM pairs
        )
        (SELECT * FROM changed EXCEPT SELECT * FROM listed)
        UNION ALL
        (SELECT * FROM listed EXCEPT SELECT * FROM changed)
    """,
}


@pytest.mark.parametrize("read_model", sorted(READ_MODEL_DIFFERENCES))
def test_dashboard_read_models_hold_the_rows_of_their_marts(home_env: Path, read_model: str) -> None:
    (rows,) = _one(home_env, f"SELECT count(*) FROM marts.{read_model}")
    assert rows > 0
    assert _all(home_env, READ_MODEL_DIFFERENCES[read_model]) == []


def test_comparison_values_are_the_marts_values(home_env: Path) -> None:
    uid, previous, params_changed, results_changed = _one(
        home_env,
        "SELECT pipeline_run_uid, previous_run_uid, params_changed, results_changed FROM marts.fct_run_comparisons "
        "WHERE len(params_changed) + len(results_changed) > 0 ORDER BY order_at DESC, pipeline_run_uid LIMIT 1",
    )
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = uid
    at.run()
    at.switch_page("app_pages/comparison.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [df.value for df in at.dataframe if "this run" in df.value.columns]
    expected = {("param", n) for n in params_changed} | {("result", n) for n in results_changed}
    assert set(zip(table["kind"], table["name"], strict=True)) == expected
    values = {
        (run, kind, name): text
        for run, kind, name, text in _all(
            home_env,
            f"SELECT run_uid, value_kind, name, value_text FROM marts.fct_run_values "
            f"WHERE run_uid IN ('{uid}', '{previous}')",
        )
    }
    for row in table.itertuples(index=False):
        for run, shown in ((uid, row[2]), (previous, row[3])):
            assert (None if shown is None or shown != shown else shown) == values.get(
                (run, row.kind, row.name)
            )
