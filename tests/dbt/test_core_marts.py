"""The core marts built by real dbt from hand-made v1 / v1beta1 objects, checked against answers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.warehouse import query, query_dicts


def _runs(serving_db: Path) -> dict[str, dict]:
    rows = query_dicts(serving_db, "select * from marts.fct_pipeline_runs")
    return {row["pipeline_run_uid"]: row for row in rows}


def test_pipeline_runs_status_keys_and_code_source(serving_db: Path) -> None:
    runs = _runs(serving_db)
    assert set(runs) == {"uid-b1", "uid-b2", "uid-b3", "uid-n1", "uid-n2"}
    assert {uid: r["status"] for uid, r in runs.items()} == {
        "uid-b1": "succeeded",
        "uid-b2": "failed",
        "uid-b3": "succeeded",
        "uid-n1": "cancelled",
        "uid-n2": "running",
    }
    assert {r["pipeline_name"] for uid, r in runs.items() if uid.startswith("uid-b")} == {"build"}
    assert runs["uid-n1"]["pipeline_name"] == "nightly"
    b1, b2 = runs["uid-b1"], runs["uid-b2"]
    assert b1["repo_url"] == b2["repo_url"] == "https://github.com/Org/App"
    assert (b1["commit_sha"], b2["commit_sha"]) == ("abc1234", "def5678")
    assert b1["duration_s"] == 300.0 and b1["queue_s"] == 5.0
    assert (b1["task_run_count"], b1["failed_task_count"]) == (2, 0)
    assert (b2["task_run_count"], b2["failed_task_count"]) == (2, 1)
    assert (b1["is_signed"], b2["is_signed"]) == (True, False)
    assert (b1["api_version"], b2["api_version"]) == ("tekton.dev/v1", "tekton.dev/v1beta1")
    assert (b1["service_account"], b2["service_account"]) == ("builder", "builder-beta")
    assert b1["trigger_event_id"] == "ev-1" and b1["commit_author"] == "Ada"
    assert runs["uid-b3"]["rerun_of_uid"] == "uid-b2"
    assert runs["uid-n1"]["started_at"] is None and runs["uid-n1"]["duration_s"] is None


def test_task_runs_parent_retries_and_failed_step(serving_db: Path) -> None:
    rows = query_dicts(serving_db, "select * from marts.fct_task_runs")
    tasks = {row["task_run_uid"]: row for row in rows}
    assert len(tasks) == 7
    assert tasks["uid-b1-clone"]["pipeline_run_uid"] == "uid-b1"  # owner reference only
    assert tasks["uid-b1-test"]["pipeline_run_uid"] == "uid-b1"  # label only
    assert tasks["uid-b2-clone"]["pipeline_run_uid"] == "uid-b2"
    assert tasks["uid-lint"]["pipeline_run_uid"] is None
    assert (tasks["uid-lint"]["status"], tasks["uid-lint"]["task_name"]) == ("timed_out", "lint")
    failing = tasks["uid-b2-test"]
    assert (failing["status"], failing["attempts"], failing["failed_attempts"]) == ("failed", 2, 1)
    assert (failing["failed_step"], failing["exit_code"]) == ("unit", 1)
    assert failing["pod_wait_s"] == 30.0
    assert failing["pipeline_name"] == "build" and failing["pipeline_task"] == "test"
    assert tasks["uid-b1-clone"]["task_name"] == "git-clone"
    assert tasks["uid-b1-test"]["task_name"] == "unit-test"


def test_run_comparisons_transitions_and_diffs(serving_db: Path) -> None:
    rows = query_dicts(serving_db, "select * from marts.fct_run_comparisons")
    by_uid = {row["pipeline_run_uid"]: row for row in rows}
    assert set(by_uid) == {"uid-b1", "uid-b2", "uid-b3", "uid-n1"}  # terminal runs only
    assert by_uid["uid-b1"]["transition"] == "first_run"
    regressed = by_uid["uid-b2"]
    assert (regressed["previous_run_uid"], regressed["transition"]) == ("uid-b1", "regressed")
    assert regressed["commit_changed"] is True
    assert regressed["params_changed"] == ["flags", "revision"]
    assert regressed["results_changed"] == ["IMAGE_DIGEST"]
    assert regressed["tasks_added"] == [] and regressed["tasks_removed"] == []
    assert regressed["duration_delta_s"] == 480.0 - 300.0
    recovered = by_uid["uid-b3"]
    assert (recovered["previous_run_uid"], recovered["transition"]) == ("uid-b2", "recovered")
    assert recovered["commit_changed"] is False
    assert recovered["params_changed"] == [] and recovered["results_changed"] == []
    assert by_uid["uid-n1"]["transition"] == "first_run"


def test_task_comparisons(serving_db: Path) -> None:
    rows = query(
        serving_db,
        "select pipeline_task, status, previous_status, duration_delta_s from marts.fct_task_comparisons "
        "where pipeline_run_uid = 'uid-b2' order by pipeline_task",
    )
    assert rows == [("clone", "succeeded", "succeeded", 0.0), ("test", "failed", "succeeded", 406.0 - 231.0)]


def test_daily_aggregates_and_error_budget(serving_db: Path) -> None:
    daily = query(
        serving_db,
        "select day::varchar, pipeline_name, runs, succeeded, failed, cancelled, success_rate, duration_p50_s "
        "from marts.agg_pipeline_daily order by 1, 2",
    )
    assert daily == [
        ("2024-05-01", "build", 1, 1, 0, 0, 1.0, 300.0),
        ("2024-05-02", "build", 2, 1, 1, 0, 0.5, 420.0),
        ("2024-05-03", "nightly", 1, 0, 0, 1, None, None),
    ]
    burn = query(
        serving_db, "select day::varchar, slo_target, error_budget_burn from marts.agg_reliability_daily"
    )
    by_day = {day: (slo, value) for day, slo, value in burn}
    assert by_day["2024-05-01"] == (0.99, 0.0)
    assert by_day["2024-05-02"][1] == pytest.approx(50.0)
    assert by_day["2024-05-03"][1] is None


def test_dim_pipelines(serving_db: Path) -> None:
    rows = query(
        serving_db,
        "select pipeline_name, runs, last_status, repo_url from marts.dim_pipelines order by pipeline_name",
    )
    assert rows == [("build", 3, "succeeded", "https://github.com/Org/App"), ("nightly", 2, "running", None)]


def test_published_file_holds_only_marts_with_docs(serving_db: Path) -> None:
    schemas = {row[0] for row in query(serving_db, "select distinct schema_name from duckdb_tables()")}
    assert schemas == {"marts"}
    tables = {row[0] for row in query(serving_db, "select table_name from duckdb_tables()")}
    assert {
        "fct_pipeline_runs",
        "fct_task_runs",
        "fct_run_comparisons",
        "fct_task_comparisons",
        "agg_pipeline_daily",
        "agg_reliability_daily",
        "dim_pipelines",
    } <= tables
    comment = query(
        serving_db,
        "select comment from duckdb_columns() where table_name = 'fct_task_runs' and column_name = 'attempts'",
    )
    assert comment == [("1 + number of status.retriesStatus entries.",)]
    types = dict(
        query(
            serving_db,
            "select column_name, data_type from duckdb_columns() where table_name = 'fct_run_comparisons'",
        )
    )
    assert types["params_changed"] == "VARCHAR[]" and types["duration_s"] == "DOUBLE"
