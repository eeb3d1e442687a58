"""The daily summary's numbers, computed by hand from a small history, must come out exactly.

The history (DAY = 2026-03-10, baseline 03-03..03-09):
- build: 2 successes per baseline day (100 s, queue 10 s); on D-1 at 23:30 a run that failed before starting
  (counts on D-1, not on D even though it completed on D); on D a success (300 s) then a failure (320 s, queue
  30 s) then a cancelled run (50 s): it regressed on D. One success on D+1 (so the newest complete day is D).
- deploy: success on D-3, failure on D-2 (the regression), timeout on D: still failing since D-2.
- lint: on D a failure then a success with the same commit (newly flaky), a task `unit` passing on retry.
- test: same-commit flakes on D-10 and on D: not newly flaky (evidence in the 30-day window before).
- old: a rerun-pass flake on D-40 and on D: newly flaky (the earlier evidence is outside the window).
- a standalone TaskRun failing on D with cause image_pull.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from etl.config import WarehousePaths
from etl.summary import build_summary
from etl.summary.report import SummaryError, load_summary
from tests.summary.marts_builder import DAY, MartsBuilder, at


def _history(marts: MartsBuilder) -> None:
    for offset in range(-7, 0):
        for hour in (9, 15):
            marts.run(f"b{offset}-{hour}", "build", "succeeded", at(offset, hour), commit_sha="aaaa111")
    marts.run("b-prestart", "build", "failed", None, created=at(-1, 23, 30), completed=at(0, 0, 5))
    marts.run("b-d1", "build", "succeeded", at(0, 9), duration_s=300)
    marts.run("b-d2", "build", "failed", at(0, 10), duration_s=320, queue_s=30)
    marts.run("b-d3", "build", "cancelled", at(0, 11), duration_s=50)
    marts.run("b-next", "build", "succeeded", at(1, 0, 30))

    marts.run("d-3", "deploy", "succeeded", at(-3, 12), duration_s=60)
    marts.run("d-2", "deploy", "failed", at(-2, 12), duration_s=60)
    marts.run("d-0", "deploy", "timed_out", at(0, 12), duration_s=3600)

    marts.run("l-d1", "lint", "failed", at(0, 8), commit_sha="bbbb222")
    marts.run("l-d2", "lint", "succeeded", at(0, 9), commit_sha="bbbb222")
    marts.evidence.append(("c1", "team", "lint", None, "l-d1", "l-d2", "bbbb222", "same_commit"))
    marts.task_run("t-unit", "l-d2", "lint", "unit", "succeeded", at(0, 9, 5), failed_attempts=1)
    marts.evidence.append(("c1", "team", "lint", "unit", "t-unit", "t-unit", "bbbb222", "retry_pass"))

    for offset, prefix in ((-10, "t-old"), (0, "t-new")):
        marts.run(f"{prefix}-f", "test", "failed", at(offset, 6), cluster="c2", namespace="qa")
        marts.run(f"{prefix}-p", "test", "succeeded", at(offset, 7), cluster="c2", namespace="qa")
        marts.evidence.append(
            ("c2", "qa", "test", None, f"{prefix}-f", f"{prefix}-p", "cccc333", "same_commit")
        )
    for offset, prefix in ((-40, "o-old"), (0, "o-new")):
        marts.run(f"{prefix}-f", "old", "failed", at(offset, 5), cluster="c2", namespace="qa")
        marts.run(f"{prefix}-p", "old", "succeeded", at(offset, 6), cluster="c2", namespace="qa")
        marts.evidence.append(("c2", "qa", "old", None, f"{prefix}-f", f"{prefix}-p", None, "rerun_pass"))

    marts.task_run("st-1", None, None, None, "failed", at(0, 13))
    marts.failures += [
        ("c1", "team", "b-prestart", "PipelineRun", "build", "validation"),
        ("c1", "team", "d-2", "PipelineRun", "deploy", "step_error"),
        ("c1", "team", "b-d2", "PipelineRun", "build", "step_error"),
        ("c1", "team", "d-0", "PipelineRun", "deploy", "timeout"),
        ("c1", "team", "l-d1", "PipelineRun", "lint", "step_error"),
        ("c2", "qa", "t-new-f", "PipelineRun", "test", "step_error"),
        ("c2", "qa", "o-new-f", "PipelineRun", "old", "oom"),
        ("c1", "team", "st-1", "TaskRun", None, "image_pull"),
    ]
    repo = "https://git.example/org/repo"
    marts.artifacts += [
        ("sha256:aaa", "b-d1", "c1", "team", "build", repo, "aaaa111", at(0, 9, 5), True),
        ("sha256:bbb", "l-d2", "c1", "team", "lint", repo, "bbbb222", at(0, 9, 2), False),
        ("sha256:ccc", "b-1-15", "c1", "team", "build", repo, "c0ffee1", at(-1, 15, 2), True),
    ]
    marts.edges += [
        ("artifact", "sha256:ccc", "pipeline_run", "d-0", "consumed_by", at(0, 12)),
        ("artifact", "sha256:aaa", "pipeline_run", "l-d2", "consumed_by", at(0, 9)),
    ]


@pytest.fixture
def summary_home(warehouse_home: WarehousePaths, marts: MartsBuilder) -> WarehousePaths:
    _history(marts)
    marts.write(warehouse_home.serving_db)
    return warehouse_home


def test_runs_success_rate_and_error_budget_burn_against_the_week_before(
    summary_home: WarehousePaths,
) -> None:
    summary = build_summary(summary_home, DAY).summary
    day, baseline = summary["runs"]["day"], summary["runs"]["baseline"]
    # D: build 3 (1 ok, 1 failed, 1 cancelled), deploy timeout, lint/test/old one failure + one success each.
    assert day == {
        "runs": 10,
        "succeeded": 4,
        "failed": 4,
        "timed_out": 1,
        "cancelled": 1,
        "success_rate": 0.444444,
    }
    # Week before: 14 build successes, the pre-start failure (D-1), deploy success + failure.
    assert baseline["runs"] == 17 and baseline["succeeded"] == 15 and baseline["failed"] == 2
    assert baseline["success_rate"] == pytest.approx(15 / 17, abs=1e-6)
    assert summary["runs"]["success_rate_change"] == pytest.approx(4 / 9 - 15 / 17, abs=1e-5)
    budget = summary["error_budget"]
    assert budget["slo_target"] == 0.99
    assert budget["burn"] == pytest.approx((1 - 4 / 9) / 0.01, rel=1e-5)
    assert budget["baseline_burn"] == pytest.approx((1 - 15 / 17) / 0.01, rel=1e-5)
    # The pre-start failure completed on D but counts on D-1, so it is not among D's failing runs.
    assert summary["runs"]["failing_run_uids"] == ["o-new-f", "t-new-f", "l-d1", "b-d2", "d-0"]
    assert [point["runs"] for point in summary["runs"]["trend"]] == [2, 2, 2, 2, 3, 3, 3, 10]


def test_regressed_today_and_still_failing_are_told_apart(summary_home: WarehousePaths) -> None:
    regressions = build_summary(summary_home, DAY).summary["regressions"]
    assert regressions["regressed"] == [
        {
            "cluster": "c1",
            "namespace": "team",
            "pipeline_name": "build",
            "latest_run_uid": "b-d2",
            "latest_status": "failed",
            "regressed_run_uid": "b-d2",
            "last_passing_run_uid": "b-d1",
            "regressed_on": DAY.isoformat(),
            "failing_run_uids": ["b-d2"],
        }
    ]
    assert [(item["pipeline_name"], item["regressed_on"], item["regressed_run_uid"]) for item in regressions["still_failing"]] == [
        ("deploy", (DAY - timedelta(days=2)).isoformat(), "d-2")
    ]  # fmt: skip


def test_newly_flaky_needs_first_evidence_today_and_none_in_the_window_before(
    summary_home: WarehousePaths,
) -> None:
    flaky = build_summary(summary_home, DAY).summary["newly_flaky"]
    pipelines = {item["pipeline_name"]: item for item in flaky["pipelines"]}
    # `test` had evidence 10 days before D (inside the 30-day window); `old` only 40 days before (outside).
    assert sorted(pipelines) == ["lint", "old"]
    assert pipelines["lint"]["kinds"] == ["same_commit"]
    assert (pipelines["lint"]["failed_uids"], pipelines["lint"]["passing_uids"]) == (["l-d1"], ["l-d2"])
    assert pipelines["old"]["kinds"] == ["rerun_pass"]
    assert [(t["pipeline_name"], t["pipeline_task"], t["failed_uids"]) for t in flaky["tasks"]] == [
        ("lint", "unit", ["t-unit"])
    ]


def test_a_shorter_flaky_window_lets_older_evidence_age_out(summary_home: WarehousePaths) -> None:
    flaky = build_summary(summary_home, DAY, flaky_window_days=7).summary["newly_flaky"]
    assert sorted(item["pipeline_name"] for item in flaky["pipelines"]) == ["lint", "old", "test"]


def test_failure_causes_durations_queue_and_supply_chain(summary_home: WarehousePaths) -> None:
    summary = build_summary(summary_home, DAY).summary
    causes = [(c["cause"], c["failures"], c["run_uids"]) for c in summary["failure_causes"]]
    assert causes == [
        ("step_error", 3, ["t-new-f", "l-d1", "b-d2"]),
        ("image_pull", 1, ["st-1"]),
        ("oom", 1, ["o-new-f"]),
        ("timeout", 1, ["d-0"]),
    ]
    increases = [
        (i["pipeline_name"], i["p95_day_s"], i["p95_baseline_s"], i["run_uids"])
        for i in summary["duration_increases"]
    ]
    # deploy: 3600 s vs 60 s; build: p95 of [50, 300, 320] = 300 + 0.9 * 20 = 318 vs 100.
    assert increases == [("deploy", 3600.0, 60.0, ["d-0"]), ("build", 318.0, 100.0, ["b-d2", "b-d1"])]  # fmt: skip
    queue = summary["queue"]
    assert queue["baseline_p95_s"] == 10.0
    assert queue["worst_pipelines"][0]["pipeline_name"] == "build"
    assert queue["worst_pipelines"][0]["run_uids"] == ["b-d2"]
    chain = summary["supply_chain"]
    assert (chain["artifacts_produced"], chain["artifacts_signed"], chain["share_signed"]) == (2, 1, 0.5)
    assert chain["producer_run_uids"] == ["b-d1", "l-d2"]
    assert chain["commits_failed_downstream"] == [
        {
            "repo_url": "https://git.example/org/repo",
            "commit_sha": "c0ffee1",
            "artifact_digests": ["sha256:ccc"],
            "producer_run_uids": ["b-1-15"],
            "failing_downstream_run_uids": ["d-0"],
        }
    ]


def test_default_day_is_the_newest_complete_day_and_rebuilding_changes_nothing(
    summary_home: WarehousePaths,
) -> None:
    first = build_summary(summary_home)
    assert first.day == DAY  # the newest completion is on D+1
    texts = [path.read_bytes() for path in (first.json_path, first.markdown_path, first.html_path)]
    second = build_summary(summary_home)
    assert [path.read_bytes() for path in (second.json_path, second.markdown_path, second.html_path)] == texts
    assert json.loads(texts[0]) == load_summary(summary_home, DAY)
    assert first.json_path == summary_home.home / "reports" / "daily" / "2026-03-10.json"


def test_html_is_self_contained_and_escapes_names(
    warehouse_home: WarehousePaths, marts: MartsBuilder
) -> None:
    _history(marts)
    marts.run("x-1", "<script>alert(1)</script>", "failed", at(0, 14))
    marts.write(warehouse_home.serving_db)
    files = build_summary(warehouse_home, DAY)
    html = files.html_path.read_text()
    assert "<svg" in html and "<script>" not in html and "&lt;script&gt;" in html
    assert not any(marker in html for marker in ("src=", "href=", "<link", "@import"))
    markdown = files.markdown_path.read_text()
    assert "b-d2" in markdown and "## Regressed today" in markdown


def test_missing_serving_file_is_one_clear_error(warehouse_home: WarehousePaths) -> None:
    with pytest.raises(SummaryError, match="run 'tekton-warehouse build'"):
        build_summary(warehouse_home, DAY)
