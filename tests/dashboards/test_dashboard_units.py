"""Unit tests of the pieces pages rely on: DOT escaping, bound filter parameters, the analyst SQL guard."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dashboards import data
from dashboards.graph import lineage_dot, quote
from etl.config import WarehousePaths
from tests.dashboards.marts_fixture import build_marts_file


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> data.Snapshot:
    path = build_marts_file(tmp_path_factory.mktemp("units") / "tekton.duckdb")
    found = data.current_snapshot(path)
    assert found is not None
    return found


def _filters(**overrides: object) -> data.Filters:
    base = {
        "cluster": None,
        "namespace": None,
        "pipeline": None,
        "start": date(2026, 3, 1),
        "end": date(2026, 3, 14),
    }
    return data.Filters(**{**base, **overrides})  # type: ignore[arg-type]


def test_dot_quoting_keeps_hostile_names_inside_their_string() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    edges = pd.DataFrame(
        [{"source_kind": "commit", "source_id": 'https://x/r"];evil@abc1234', "target_kind": "pipeline_run",
          "target_id": "uid-1", "relation": "triggers", "observed_at": None}]
    )  # fmt: skip
    runs = pd.DataFrame([{"id": "uid-1", "name": "run-1", "pipeline": "p", "status": "failed"}])
    dot = lineage_dot(edges, runs, pd.DataFrame(columns=["artifact_digest", "is_signed"]))
    assert '"https://x/r\\"];evil@abc1234" -> "uid-1"' in dot
    assert 'color="#c62828"' in dot  # the failed run is drawn red


def test_unsigned_artifacts_are_marked_in_the_graph() -> None:
    edges = pd.DataFrame(
        [{"source_kind": "pipeline_run", "source_id": "uid-1", "target_kind": "artifact",
          "target_id": "sha256:" + "ab" * 32, "relation": "produces", "observed_at": None}]
    )  # fmt: skip
    artifacts = pd.DataFrame([{"artifact_digest": "sha256:" + "ab" * 32, "is_signed": False}])
    dot = lineage_dot(edges, pd.DataFrame(columns=["id", "name", "pipeline", "status"]), artifacts)
    assert "NOT signed" in dot


def test_filter_values_are_bound_never_spliced(snapshot: data.Snapshot) -> None:
    hostile = "build-api' OR '1'='1"
    assert data.flaky_pipelines(snapshot, _filters(pipeline=hostile)).empty
    assert data.kpis(snapshot, _filters(pipeline=hostile)).runs == 0
    assert data.kpis(snapshot, _filters()).runs > 0


def test_previous_period_has_the_same_length_and_ends_the_day_before() -> None:
    previous = _filters().previous_period()
    assert (previous.start, previous.end) == (date(2026, 2, 15), date(2026, 2, 28))


def test_default_range_is_measured_from_the_data() -> None:
    assert data.default_range((date(2026, 1, 1), date(2026, 3, 14))) == (date(2026, 2, 13), date(2026, 3, 14))
    assert data.default_range((date(2026, 3, 10), date(2026, 3, 14))) == (
        date(2026, 3, 10),
        date(2026, 3, 14),
    )


def test_a_republish_changes_the_snapshot_identity(tmp_path: Path) -> None:
    path = build_marts_file(tmp_path / "tekton.duckdb")
    first = data.current_snapshot(path)
    build_marts_file(path, seed=3)
    assert data.current_snapshot(path) != first
    assert data.current_snapshot(tmp_path / "absent.duckdb") is None


def test_user_sql_allows_with_and_from_first_queries(snapshot: data.Snapshot) -> None:
    result = data.run_user_sql(snapshot.path, "WITH t AS (SELECT 1 AS x) SELECT x FROM t;")
    assert result.frame["x"].tolist() == [1]
    assert data.run_user_sql(snapshot.path, "FROM marts.dim_pipelines").frame.shape[0] == 4


@pytest.mark.parametrize(
    "text",
    [
        "ATTACH '/tmp/other.duckdb' AS other",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "INSTALL httpfs",
        "EXPLAIN SELECT 1",
        "",
    ],
)
def test_user_sql_refuses_anything_but_one_select(snapshot: data.Snapshot, text: str) -> None:
    with pytest.raises(data.UserSqlError):
        data.run_user_sql(snapshot.path, text)


def test_user_sql_is_stopped_after_its_time_limit(snapshot: data.Snapshot) -> None:
    slow = "SELECT count(*) FROM range(100000000000) a"
    with pytest.raises(data.UserSqlError, match="longer than"):
        data.run_user_sql(snapshot.path, slow, timeout_s=0.5)


def test_latest_daily_summary_is_the_newest_day(warehouse_home: WarehousePaths) -> None:
    assert data.latest_daily_summary() is None
    warehouse_home.daily_reports_dir.mkdir(parents=True)
    (warehouse_home.daily_reports_dir / "2026-03-09.md").write_text("old")
    (warehouse_home.daily_reports_dir / "2026-03-10.md").write_text("new")
    assert data.latest_daily_summary() == ("2026-03-10", "new")


def test_streamlit_config_sends_no_usage_statistics() -> None:
    import tomllib

    config = Path(__file__).resolve().parents[2] / "dashboards" / ".streamlit" / "config.toml"
    assert tomllib.loads(config.read_text())["browser"]["gatherUsageStats"] is False
