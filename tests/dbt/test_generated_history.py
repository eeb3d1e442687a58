"""Core marts from a generated history (etl.synth) imported by the raw layer, checked against its ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from etl.build import run_build
from etl.config import WarehousePaths
from etl.files.importer import import_files
from etl.synth import generate
from tests.dbt.conftest import CORE_SELECTION
from tests.helpers.warehouse import query, query_dicts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("generated")
    history = base / "history"
    generate(history, days=10, pipelines=40, runs_per_day=3.0, seed=3, fmt="ndjson")
    paths = WarehousePaths(base / "home").ensure()
    import_files(paths, [history / "objects.ndjson"])
    run_build(paths, select=CORE_SELECTION)
    return paths.serving_db, json.loads((history / "ground_truth.json").read_text())


def test_counts_per_status_match(generated: tuple[Path, dict[str, Any]]) -> None:
    db, truth = generated
    for kind, table in (("PipelineRun", "fct_pipeline_runs"), ("TaskRun", "fct_task_runs")):
        got = dict(query(db, f"select status, count(*) from marts.{table} group by status"))
        assert got == truth["counts"]["by_status"][kind], kind


def test_runs_per_pipeline_match(generated: tuple[Path, dict[str, Any]]) -> None:
    db, truth = generated
    expected = {(p["namespace"], p["pipeline_name"]): (p["runs"], p["succeeded"]) for p in truth["pipelines"]}
    rows = query(
        db,
        "select namespace, pipeline_name, count(*), count(*) filter (where status = 'succeeded') "
        "from marts.fct_pipeline_runs group by all",
    )
    assert {(ns, name): (runs, ok) for ns, name, runs, ok in rows} == expected
    dims = dict(
        ((ns, name), runs)
        for ns, name, runs in query(db, "select namespace, pipeline_name, runs from marts.dim_pipelines")
    )
    assert dims == {key: runs for key, (runs, _) in expected.items()}


def test_reruns_resolve_to_their_originals_despite_reused_names(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    db, truth = generated
    expected = {r["rerun_uid"]: r["original_uid"] for r in truth["reruns"]}
    assert expected, "the generated history should contain reruns"
    got = dict(
        query(
            db,
            "select pipeline_run_uid, rerun_of_uid from marts.fct_pipeline_runs where rerun_of_uid is not null",
        )
    )
    assert got == expected
    reused = truth["reused_names"]
    assert reused and all(len(set(r["uids"])) == len(r["uids"]) for r in reused)


def test_failing_streaks_regress_then_recover(generated: tuple[Path, dict[str, Any]]) -> None:
    db, truth = generated
    assert truth["failing_streaks"], "the generated history should contain failing streaks"
    for streak in truth["failing_streaks"]:
        uids = [*streak["run_uids"], streak["recovered_by"]]
        rows = query_dicts(
            db,
            "select pipeline_run_uid, transition from marts.fct_run_comparisons "
            "where pipeline_run_uid in (select unnest(?::varchar[]))",
            [uids],
        )
        transitions = {row["pipeline_run_uid"]: row["transition"] for row in rows}
        assert [transitions[uid] for uid in streak["run_uids"]] == ["regressed"] + ["still_failing"] * (
            len(streak["run_uids"]) - 1
        )
        assert transitions[streak["recovered_by"]] == "recovered"


def test_injected_duration_regressions_show_in_daily_p50(generated: tuple[Path, dict[str, Any]]) -> None:
    db, truth = generated
    assert truth["regressions"], "the generated history should contain duration regressions"
    for regression in truth["regressions"]:
        before, after = query(
            db,
            "select median(duration_p50_s) filter (where day < ?::date), "
            "median(duration_p50_s) filter (where day >= ?::date) "
            "from marts.agg_pipeline_daily where namespace = ? and pipeline_name = ?",
            [
                regression["from_day"],
                regression["from_day"],
                regression["namespace"],
                regression["pipeline_name"],
            ],
        )[0]
        assert after / before > (1 + regression["factor"]) / 2, regression


def test_daily_totals_add_up(generated: tuple[Path, dict[str, Any]]) -> None:
    db, truth = generated
    statuses = truth["counts"]["by_status"]["PipelineRun"]
    terminal = sum(statuses.get(s, 0) for s in ("succeeded", "failed", "timed_out", "cancelled"))
    assert query(db, "select sum(runs) from marts.agg_pipeline_daily") == [(terminal,)]
    assert query(db, "select sum(runs) from marts.agg_reliability_daily") == [(terminal,)]
    assert query(db, "select count(*) from marts.fct_run_comparisons") == [(terminal,)]
