"""Every page under Streamlit's AppTest: renders with no warehouse, with empty marts and with data; filters narrow
what is shown; the values shown equal the marts (expected values computed here with our own SQL)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data, ui
from etl.config import WarehousePaths
from tests.dashboards.marts_fixture import build_empty_marts_file, build_marts_file

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGES = ["overview", "trends", "flakiness", "comparison", "lineage", "failures", "sql"]
ALL_DAYS = {"from": "2026-03-01", "to": "2026-03-14"}


def _app(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in (params or {}).items():
        at.query_params[name] = value
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sql(path: Path, text: str, *params: Any) -> list[tuple]:
    data.close_readers()  # DuckDB shares one instance per path in a process: read the file as it is now
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(text, list(params)).fetchall()
    finally:
        con.close()


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return values[0]


@pytest.fixture(scope="module")
def marts_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once; each test gets its own copy (its own inode, so caches never leak between tests)."""
    return build_marts_file(tmp_path_factory.mktemp("template") / "tekton.duckdb")


@pytest.fixture
def populated(warehouse_home: WarehousePaths, marts_template: Path) -> Path:
    shutil.copyfile(marts_template, warehouse_home.serving_db)
    return warehouse_home.serving_db


# ================================================================================================================
# Rendering in every state
# ================================================================================================================


@pytest.mark.parametrize("page", PAGES)
def test_page_without_a_warehouse_says_how_to_get_one(warehouse_home: WarehousePaths, page: str) -> None:
    at = _app(page)
    assert any("tekton-warehouse demo" in info.value for info in at.info)
    assert not at.error


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_a_populated_warehouse(populated: Path, page: str) -> None:
    at = _app(page)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value


@pytest.mark.parametrize("page", PAGES[:-1])
def test_page_on_empty_marts_explains_the_empty_state(warehouse_home: WarehousePaths, page: str) -> None:
    build_empty_marts_file(warehouse_home.serving_db)
    at = _app(page)
    messages = [i.value for i in at.info] + [s.value for s in at.success]
    assert any("No " in m for m in messages), messages


def test_a_missing_mart_is_reported_not_raised(warehouse_home: WarehousePaths) -> None:
    build_marts_file(warehouse_home.serving_db)
    data.close_readers()
    con = duckdb.connect(str(warehouse_home.serving_db))
    con.execute("DROP TABLE marts.fct_flaky_pipelines")
    con.close()
    at = _app("flakiness")
    assert any("marts.fct_flaky_pipelines is missing" in w.value for w in at.warning)


# ================================================================================================================
# Overview
# ================================================================================================================


def test_overview_kpis_equal_the_marts(populated: Path) -> None:
    at = _app("overview")
    runs, rate = _sql(
        populated,
        "SELECT sum(runs), sum(succeeded) / (sum(succeeded) + sum(failed) + sum(timed_out)) "
        "FROM marts.agg_pipeline_daily",
    )[0]
    (p95,) = _sql(
        populated,
        "SELECT quantile_cont(duration_s, 0.95) FROM marts.fct_pipeline_runs "
        "WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled')",
    )[0]
    (flaky,) = _sql(populated, "SELECT count(*) FROM marts.fct_flaky_pipelines WHERE is_flaky")[0]
    assert _metric(at, "Runs") == f"{runs:,}"
    assert _metric(at, "Success rate") == f"{rate * 100:.2f}%"
    assert _metric(at, "Error-budget burn") == f"{(1 - rate) / (1 - 0.99):.2f}×"
    assert _metric(at, "p95 duration") == ui.fmt_seconds(p95)
    assert _metric(at, "Flaky pipelines") == str(flaky)


def test_overview_lists_the_last_days_regressions(populated: Path) -> None:
    at = _app("overview")
    expected = _sql(
        populated,
        "SELECT c.pipeline_run_uid FROM marts.fct_run_comparisons c JOIN marts.fct_pipeline_runs p "
        "USING (pipeline_run_uid) WHERE c.transition = 'regressed' AND CAST(p.completed_at AS DATE) = '2026-03-14'",
    )
    assert expected, "the fixture should hold a regression on its last day"
    shown = at.dataframe[0].value
    assert sorted(shown["pipeline_run_uid"]) == sorted(uid for (uid,) in expected)


def test_overview_shows_the_newest_daily_summary(populated: Path, warehouse_home: WarehousePaths) -> None:
    warehouse_home.daily_reports_dir.mkdir(parents=True)
    (warehouse_home.daily_reports_dir / "2026-03-13.md").write_text("# Older summary\n")
    (warehouse_home.daily_reports_dir / "2026-03-14.md").write_text(
        "# Reliability on 2026-03-14\n\nAll good.\n"
    )
    at = _app("overview")
    assert any("Reliability on 2026-03-14" in m.value for m in at.markdown)
    assert not any("Older summary" in m.value for m in at.markdown)


# ================================================================================================================
# Filters and the URL
# ================================================================================================================


def test_filters_from_a_shared_link_narrow_every_number(populated: Path) -> None:
    at = _app("overview", {"cluster": "staging", "from": "2026-03-10", "to": "2026-03-12"})
    (runs,) = _sql(
        populated,
        "SELECT sum(runs) FROM marts.agg_pipeline_daily WHERE cluster = 'staging' "
        "AND day BETWEEN DATE '2026-03-10' AND DATE '2026-03-12'",
    )[0]
    (everything,) = _sql(populated, "SELECT sum(runs) FROM marts.agg_pipeline_daily")[0]
    assert runs < everything
    assert _metric(at, "Runs") == f"{runs:,}"
    assert at.sidebar.selectbox(key="filter_cluster").value == "staging"


def test_choosing_a_filter_updates_the_view_and_the_link(populated: Path) -> None:
    at = _app("overview", ALL_DAYS)
    at.sidebar.selectbox(key="filter_pipeline").set_value("build-web").run()
    (runs,) = _sql(
        populated, "SELECT sum(runs) FROM marts.agg_pipeline_daily WHERE pipeline_name = 'build-web'"
    )[0]
    assert _metric(at, "Runs") == f"{runs:,}"
    assert at.query_params["pipeline"] == "build-web"
    at.sidebar.selectbox(key="filter_pipeline").set_value(ui.ALL).run()
    assert "pipeline" not in at.query_params


@pytest.mark.parametrize("page", ["trends", "flakiness", "comparison", "failures"])
def test_narrowing_a_filter_after_choosing_on_a_page_keeps_it_working(populated: Path, page: str) -> None:
    at = _app(page, ALL_DAYS)
    at.sidebar.selectbox(key="filter_cluster").set_value("staging").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["cluster"] == "staging"
    shown = [df.value for df in at.dataframe if "cluster" in df.value.columns]
    assert all(set(frame["cluster"]) <= {"staging"} for frame in shown)


def test_a_link_naming_an_unknown_pipeline_warns_and_shows_all(populated: Path) -> None:
    at = _app("overview", {"pipeline": "no-such-pipeline"})
    assert any("no-such-pipeline" in w.value for w in at.warning)
    (runs,) = _sql(populated, "SELECT sum(runs) FROM marts.agg_pipeline_daily")[0]
    assert _metric(at, "Runs") == f"{runs:,}"


def test_a_republished_file_is_picked_up_without_restart(populated: Path) -> None:
    at = _app("overview")
    before = _metric(at, "Runs")
    build_marts_file(populated, seed=99)  # temp file + rename, like etl.publish
    (runs,) = _sql(populated, "SELECT sum(runs) FROM marts.agg_pipeline_daily")[0]
    assert f"{runs:,}" != before
    at.run()
    assert _metric(at, "Runs") == f"{runs:,}"


def test_a_reader_kept_by_the_app_never_blocks_a_publish(populated: Path) -> None:
    at = _app("overview")
    before = _metric(at, "Runs")
    build_marts_file(populated, seed=5)  # publish while the app keeps its read-only connection
    at.run()
    assert _metric(at, "Runs") != before
    data.close_readers()
    # With every reader closed, nothing in this process holds the file any more.
    duckdb.connect(str(populated)).close()


# ================================================================================================================
# Trends, flakiness, failures
# ================================================================================================================


def test_trends_change_table_equals_own_sql(populated: Path) -> None:
    at = _app("trends", {"from": "2026-03-08", "to": "2026-03-14"})
    at.button_group(key="trends_group").set_value("namespace").run()
    table = at.dataframe[-1].value.set_index("namespace")
    expected = _sql(
        populated,
        """
        SELECT cluster || '/' || namespace,
               count(*) FILTER (WHERE CAST(completed_at AS DATE) >= DATE '2026-03-08'),
               count(*) FILTER (WHERE CAST(completed_at AS DATE) < DATE '2026-03-08'),
               quantile_cont(duration_s, 0.95) FILTER (WHERE CAST(completed_at AS DATE) >= DATE '2026-03-08')
        FROM marts.fct_pipeline_runs
        WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
          AND CAST(completed_at AS DATE) BETWEEN DATE '2026-03-01' AND DATE '2026-03-14'
        GROUP BY 1
        """,
    )
    assert sorted(table.index) == sorted(row[0] for row in expected)
    for group, runs, previous_runs, p95 in expected:
        assert table.at[group, "runs"] == runs
        assert table.at[group, "previous_runs"] == previous_runs
        assert table.at[group, "duration_p95_s"] == pytest.approx(p95)


def test_trends_follow_the_cluster_filter(populated: Path) -> None:
    at = _app("trends", {**ALL_DAYS, "cluster": "staging"})
    groups = set(at.dataframe[-1].value["pipeline"])
    assert groups == {"staging/ci/build-api"}


def test_flakiness_ranks_the_marts_rows_and_shows_their_evidence(populated: Path) -> None:
    at = _app("flakiness", {"cluster": "prod"})
    expected = _sql(
        populated,
        "SELECT pipeline_name, flaky_failures FROM marts.fct_flaky_pipelines WHERE cluster = 'prod' AND is_flaky "
        "ORDER BY flaky_failures DESC, wasted_s DESC",
    )
    table = at.dataframe[0].value
    assert list(zip(table["pipeline_name"], table["flaky_failures"], strict=True)) == expected
    chosen = at.selectbox(key="flakiness_pipeline").value
    cluster, namespace, pipeline = chosen.split("/", 2)
    (evidence,) = _sql(
        populated,
        "SELECT count(*) FROM marts.fct_flaky_evidence WHERE cluster = ? AND namespace = ? AND pipeline_name = ?",
        cluster,
        namespace,
        pipeline,
    )[0]
    assert len(at.dataframe[-1].value) == evidence > 0


def test_failures_totals_and_drill_down_equal_the_marts(populated: Path) -> None:
    at = _app("failures", ALL_DAYS)
    (total,) = _sql(populated, "SELECT count(*) FROM marts.fct_failures")[0]
    assert _metric(at, "Failing runs") == f"{total:,}"
    at.button_group(key="failures_cause").set_value("timeout").run()
    drill = at.dataframe[-1].value
    (timeouts,) = _sql(populated, "SELECT count(*) FROM marts.fct_failures WHERE cause = 'timeout'")[0]
    assert len(drill) == timeouts > 0
    assert set(drill["cause"]) == {"timeout"}
    assert at.query_params["cause"] == "timeout"


# ================================================================================================================
# Run comparison and lineage
# ================================================================================================================


def test_comparison_of_a_run_with_its_previous_run_equals_the_marts(populated: Path) -> None:
    uid, previous, transition, status = _sql(
        populated,
        "SELECT pipeline_run_uid, previous_run_uid, transition, status FROM marts.fct_run_comparisons "
        "WHERE transition = 'regressed' ORDER BY pipeline_run_uid LIMIT 1",
    )[0]
    at = _app("comparison", {**ALL_DAYS, "run": uid})
    assert at.selectbox(key="comparison_run").value == uid
    assert _metric(at, "Transition") == transition
    assert next(m.value for m in at.metric if m.label == "Status") == status
    tasks = at.dataframe[-1].value
    expected = _sql(
        populated,
        "SELECT DISTINCT pipeline_task FROM marts.fct_task_runs WHERE pipeline_run_uid IN (?, ?)",
        uid,
        previous,
    )
    assert sorted(tasks["pipeline_task"]) == sorted(t for (t,) in expected)
    durations = dict(
        _sql(
            populated,
            "SELECT pipeline_task, duration_s FROM marts.fct_task_runs WHERE pipeline_run_uid = ?",
            uid,
        )
    )
    for row in tasks.itertuples():
        if row.pipeline_task in durations:
            assert row.duration_s == pytest.approx(durations[row.pipeline_task])


def _values_table(at: AppTest) -> Any:
    frames = [df.value for df in at.dataframe if "this run" in df.value.columns]
    assert len(frames) == 1, [list(df.value.columns) for df in at.dataframe]
    return frames[0]


def _mart_values(path: Path, uid: str) -> dict[tuple[str, str], str | None]:
    rows = _sql(path, "SELECT value_kind, name, value_text FROM marts.fct_run_values WHERE run_uid = ?", uid)
    return {(kind, name): text for kind, name, text in rows}


def test_comparison_shows_changed_values_of_both_runs_as_in_the_marts(populated: Path) -> None:
    # A regression whose commit changed: `revision` differs and IMAGE_DIGEST exists on the previous run only.
    uid, previous, params_changed, results_changed = _sql(
        populated,
        "SELECT pipeline_run_uid, previous_run_uid, params_changed, results_changed FROM marts.fct_run_comparisons "
        "WHERE transition = 'regressed' AND commit_changed ORDER BY pipeline_run_uid LIMIT 1",
    )[0]
    at = _app("comparison", {**ALL_DAYS, "run": uid})
    table = _values_table(at)
    assert list(table.columns) == ["kind", "name", "this run", "previous run", "changed"]
    expected_names = {("param", n) for n in params_changed} | {("result", n) for n in results_changed}
    assert expected_names == {("param", "revision"), ("result", "IMAGE_DIGEST")}
    assert set(zip(table["kind"], table["name"], strict=True)) == expected_names
    mine, theirs = _mart_values(populated, uid), _mart_values(populated, previous)
    for row in table.itertuples(index=False):
        key = (row.kind, row.name)
        assert _none_if_missing(row[2]) == mine.get(key)
        assert _none_if_missing(row[3]) == theirs.get(key)
    assert table.set_index("name").at["IMAGE_DIGEST", "previous run"].startswith("sha256:")

    at.toggle(key="comparison_all_values").set_value(True).run()
    everything = _values_table(at)
    assert set(zip(everything["kind"], everything["name"], strict=True)) == set(mine) | set(theirs)
    unchanged = everything[~everything["changed"]].set_index("name")
    # The array param is the same canonical JSON text on both sides, so it is listed but not changed.
    assert unchanged.at["build-args", "this run"] == mine[("param", "build-args")]
    assert unchanged.at["build-args", "previous run"] == theirs[("param", "build-args")]


def _none_if_missing(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and value != value) else value


def test_comparison_with_any_other_run_lists_tasks_added_and_removed(populated: Path) -> None:
    # A build-web run that reached `push` against a release-api run (which also has `sign`): sign is removed.
    (uid,) = _sql(
        populated,
        "SELECT pipeline_run_uid FROM marts.fct_pipeline_runs WHERE pipeline_name = 'build-web' "
        "AND status = 'succeeded' ORDER BY pipeline_run_uid LIMIT 1",
    )[0]
    (other,) = _sql(
        populated,
        "SELECT pipeline_run_uid FROM marts.fct_pipeline_runs WHERE pipeline_name = 'release-api' "
        "AND status = 'succeeded' ORDER BY pipeline_run_uid LIMIT 1",
    )[0]
    at = _app("comparison", {**ALL_DAYS, "run": uid, "other": other})
    assert at.selectbox(key="comparison_other").value == other
    assert any(c.value == "Added: none · Removed: sign" for c in at.caption), [c.value for c in at.caption]
    tasks = at.dataframe[-1].value.set_index("pipeline_task")
    (sign_duration,) = _sql(
        populated,
        "SELECT duration_s FROM marts.fct_task_runs WHERE pipeline_run_uid = ? AND pipeline_task = 'sign'",
        other,
    )[0]
    assert tasks.at["sign", "other_duration_s"] == pytest.approx(sign_duration)
    assert tasks["status"].isna()["sign"]


def test_lineage_from_a_commit_draws_its_runs_and_artifacts(populated: Path) -> None:
    repo, sha, artifacts = _sql(
        populated,
        "SELECT repo_url, commit_sha, artifacts FROM marts.fct_supply_chains WHERE downstream_runs > 0 "
        "ORDER BY commit_sha LIMIT 1",
    )[0]
    at = _app("lineage", {**ALL_DAYS, "node": sha})
    dot = at.get("graphviz_chart")[0].proto.spec
    triggered = _sql(
        populated,
        "SELECT target_id FROM marts.fct_lineage_edges WHERE source_id = ? AND relation = 'triggers'",
        f"{repo}@{sha}",
    )
    consumers = _sql(
        populated,
        "SELECT e.target_id FROM marts.fct_lineage_edges e JOIN marts.fct_artifacts a "
        "ON e.source_id = a.artifact_digest WHERE a.commit_sha = ? AND e.relation = 'consumed_by'",
        sha,
    )
    assert triggered and consumers
    for (node,) in triggered + consumers:
        assert f'"{node}"' in dot
    assert _metric(at, "Artifacts") == str(artifacts)
    chain = at.dataframe[1].value
    assert list(chain["commit_sha"]) == [sha]


def test_lineage_for_an_unknown_node_says_so(populated: Path) -> None:
    at = _app("lineage", {"node": "sha256:0000"})
    assert any("Nothing in the lineage matches" in w.value for w in at.warning)


# ================================================================================================================
# SQL page
# ================================================================================================================


def _submit_sql(at: AppTest, text: str) -> AppTest:
    at.text_area(key="sql_text").set_value(text)
    return at.button[0].click().run()


def test_sql_page_runs_a_select_and_shows_the_schema(populated: Path) -> None:
    at = _app("sql")
    assert "fct_pipeline_runs" in [e.label for e in at.expander]
    _submit_sql(
        at, "SELECT status, count(*) AS n FROM marts.fct_pipeline_runs GROUP BY status ORDER BY status"
    )
    shown = at.columns[0].dataframe[0].value
    expected = _sql(
        populated, "SELECT status, count(*) FROM marts.fct_pipeline_runs GROUP BY status ORDER BY status"
    )
    assert list(zip(shown["status"], shown["n"], strict=True)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("CREATE TABLE marts.x AS SELECT 1", "only SELECT or WITH"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
        ("SELECT nope FROM marts.fct_pipeline_runs", "nope"),
    ],
)
def test_sql_page_refuses_or_explains_bad_queries(populated: Path, text: str, message: str) -> None:
    at = _submit_sql(_app("sql"), text)
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_sql_results_are_capped(populated: Path) -> None:
    at = _submit_sql(_app("sql"), "SELECT * FROM range(25000)")
    assert len(at.columns[0].dataframe[0].value) == 10_000
    assert any("first 10,000 rows" in w.value for w in at.warning)


def test_analyst_connections_are_read_only_with_external_access_off(populated: Path) -> None:
    result = data.run_user_sql(
        populated,
        "SELECT current_setting('enable_external_access') AS external, "
        "current_setting('lock_configuration') AS locked, current_setting('access_mode') AS mode",
    )
    assert result.frame.to_dict("records") == [{"external": False, "locked": True, "mode": "read_only"}]
    with pytest.raises(data.UserSqlError, match="only SELECT or WITH"):
        data.run_user_sql(populated, "SET enable_external_access = true")
