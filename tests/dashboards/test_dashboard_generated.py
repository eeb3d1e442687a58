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
