"""ground_truth.json agrees with the emitted objects, recounted here from the files with everything in memory."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from etl.synth import derive
from tests.synth.conftest import History

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FAILING = ("failed", "timed_out")


def _status(obj: dict[str, Any]) -> str:
    """The data model's status rule, written out again so the truth is checked against an independent reading."""
    conditions = [c for c in obj["status"].get("conditions", []) if c["type"] == "Succeeded"]
    if conditions and conditions[0]["status"] == "True":
        return "succeeded"
    if conditions and conditions[0]["status"] == "False":
        reason = conditions[0]["reason"]
        if reason in ("PipelineRunTimeout", "TaskRunTimeout"):
            return "timed_out"
        cancel = (
            "Cancelled",
            "PipelineRunCancelled",
            "TaskRunCancelled",
            "CancelledRunFinally",
            "StoppedRunFinally",
        )
        return "cancelled" if reason in cancel else "failed"
    return "running" if obj["status"].get("startTime") else "pending"


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_counts_match_the_files(history: History) -> None:
    counts = history.truth["counts"]
    assert counts["objects"] == len(history.objects) == history.report.objects
    assert counts["pipeline_runs"] == len(history.pipeline_runs)
    assert counts["task_runs"] == len(history.task_runs)
    standalone = [t for t in history.task_runs if history.parent_uid(t) is None]
    assert counts["standalone_task_runs"] == len(standalone)
    for kind in ("PipelineRun", "TaskRun"):
        objs = [o for o in history.objects if o["kind"] == kind]
        assert counts["by_kind_api_version"][kind] == dict(Counter(o["apiVersion"] for o in objs))
        assert counts["by_status"][kind] == dict(Counter(_status(o) for o in objs))
        reasons = Counter((o["status"].get("conditions") or [{}])[0].get("reason", "") for o in objs)
        assert counts["by_reason"][kind] == dict(reasons)
    failing = [o for o in history.pipeline_runs + standalone if _status(o) in FAILING]
    assert sum(counts["failure_causes"].values()) == len(failing)
    assert set(counts["failure_causes"]) >= {
        "timeout",
        "oom",
        "image_pull",
        "quota",
        "resolution",
        "validation",
    }
    assert set(counts["failure_causes"]) >= {"pod_failure", "step_error"}
    assert counts["names_reused"] == len(history.truth["reused_names"])


def test_pipeline_rows_match_the_files(history: History) -> None:
    runs: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for pr in history.pipeline_runs:
        runs[(pr["metadata"]["namespace"], derive.pipeline_name(pr))][_status(pr)] += 1
    rows = {(r["namespace"], r["pipeline_name"]): r for r in history.truth["pipelines"]}
    assert set(rows) == set(runs)
    for key, statuses in runs.items():
        row = rows[key]
        assert row["runs"] == sum(statuses.values())
        for status in ("succeeded", "failed", "timed_out", "cancelled", "running", "pending"):
            assert row[status] == statuses.get(status, 0)
        assert row["counted_runs"] == statuses["succeeded"] + statuses["failed"] + statuses["timed_out"]
    names = {name for _, name in rows}
    assert "(inline)" in names
    assert not names & {pr["metadata"]["name"] for pr in history.pipeline_runs}, (
        "a run name taken as pipeline name"
    )


def _children(history: History) -> dict[str, list[dict[str, Any]]]:
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tr in history.task_runs:
        parent = history.parent_uid(tr)
        if parent:
            children[parent].append(tr)
    return children


def _expected_evidence(history: History) -> set[tuple[Any, ...]]:
    """fct_flaky_evidence computed the simple way: every run in memory at once."""
    children = _children(history)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    info = {}
    for pr in history.pipeline_runs:
        repo, commit = derive.code_source(pr, children[pr["metadata"]["uid"]])
        name = derive.pipeline_name(pr)
        info[pr["metadata"]["uid"]] = (name, commit)
        if commit:
            groups[(pr["metadata"]["namespace"], name, repo or "", commit)].append(pr)
    rows = set()
    for (namespace, name, _, commit), prs in groups.items():
        counted = [p for p in prs if _status(p) in ("succeeded", *FAILING)]
        passes = sorted(derive.order_key(p) for p in counted if _status(p) == "succeeded")
        if passes:
            for p in counted:
                if _status(p) in FAILING:
                    rows.add(
                        (namespace, name, None, p["metadata"]["uid"], passes[0][1], commit, "same_commit")
                    )
        by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in prs:
            for tr in children[p["metadata"]["uid"]]:
                by_task[tr["metadata"]["labels"]["tekton.dev/pipelineTask"]].append(tr)
        for task, trs in by_task.items():
            passes = sorted(derive.order_key(t) for t in trs if _status(t) == "succeeded")
            if passes:
                for t in trs:
                    if _status(t) in FAILING:
                        rows.add(
                            (namespace, name, task, t["metadata"]["uid"], passes[0][1], commit, "same_commit")
                        )
    for pr in history.pipeline_runs:
        original_name = pr["metadata"]["labels"].get("dashboard.tekton.dev/rerunOf")
        if not original_name or _status(pr) != "succeeded":
            continue
        earlier = [
            o
            for o in history.pipeline_runs
            if o["metadata"]["name"] == original_name
            and o["metadata"]["namespace"] == pr["metadata"]["namespace"]
            and o["metadata"]["creationTimestamp"] < pr["metadata"]["creationTimestamp"]
        ]
        original = max(earlier, key=lambda o: o["metadata"]["creationTimestamp"])
        (_, commit), (_, rerun_commit) = info[original["metadata"]["uid"]], info[pr["metadata"]["uid"]]
        if _status(original) in FAILING and not (commit and rerun_commit and commit != rerun_commit):
            rows.add(
                (pr["metadata"]["namespace"], info[pr["metadata"]["uid"]][0], None, original["metadata"]["uid"],
                 pr["metadata"]["uid"], commit, "rerun_pass")
            )  # fmt: skip
    for pr in history.pipeline_runs:
        for tr in children[pr["metadata"]["uid"]]:
            retries = tr["status"].get("retriesStatus", [])
            if _status(tr) == "succeeded" and any(r["conditions"][0]["status"] == "False" for r in retries):
                uid = tr["metadata"]["uid"]
                task = tr["metadata"]["labels"]["tekton.dev/pipelineTask"]
                rows.add(
                    (
                        pr["metadata"]["namespace"],
                        derive.pipeline_name(pr),
                        task,
                        uid,
                        uid,
                        None,
                        "retry_pass",
                    )
                )
    return rows


def test_flaky_evidence_is_exactly_what_the_runs_show(history: History) -> None:
    truth = {
        (
            e["namespace"],
            e["pipeline_name"],
            e["pipeline_task"],
            e["failed_uid"],
            e["passing_uid"],
            e["commit_sha"],
            e["kind"],
        )
        for e in history.truth["flaky_evidence"]
    }
    assert len(truth) == len(history.truth["flaky_evidence"])
    assert truth == _expected_evidence(history)
    assert {row[-1] for row in truth} == {"same_commit", "rerun_pass", "retry_pass"}


def test_flakiness_appears_only_where_it_was_injected(history: History) -> None:
    injected = {
        (t["namespace"], t["pipeline_name"], t["pipeline_task"]): t
        for t in history.truth["flaky_tasks"]
        if t["rate"]
    }
    assert injected
    for task in history.truth["flaky_tasks"]:
        if task["flaky_failures"] or task["retry_passes"]:
            assert task["rate"], f"accidental flakiness in {task}"
    flaky_pipelines = {(ns, p) for ns, p, _ in injected}
    for row in history.truth["flaky_evidence"]:
        assert (row["namespace"], row["pipeline_name"]) in flaky_pipelines
    for key, task in injected.items():
        if task["runs"] * task["rate"] >= 3:
            assert task["flaky_failures"] or task["retry_passes"], (
                f"injected flakiness left no evidence: {key}"
            )
    retried = [t for t in injected.values() if t["retries"]]
    assert any(t["retry_passes"] for t in retried)
    by_pipeline = {(r["namespace"], r["pipeline_name"]): r for r in history.truth["pipelines"]}
    for (ns, name), row in by_pipeline.items():
        failed = {
            e["failed_uid"]
            for e in history.truth["flaky_evidence"]
            if e["pipeline_task"] is None and (e["namespace"], e["pipeline_name"]) == (ns, name)
        }
        assert row["flaky_failures"] == len(failed)


def test_task_flaky_lists_match_evidence(history: History) -> None:
    for task in history.truth["flaky_tasks"]:
        key = (task["namespace"], task["pipeline_name"], task["pipeline_task"])
        rows = [
            e
            for e in history.truth["flaky_evidence"]
            if (e["namespace"], e["pipeline_name"], e["pipeline_task"]) == key
        ]
        assert sorted(task["flaky_failures"]) == sorted(
            e["failed_uid"] for e in rows if e["kind"] == "same_commit"
        )
        assert sorted(task["retry_passes"]) == sorted(
            e["failed_uid"] for e in rows if e["kind"] == "retry_pass"
        )


def test_regression_multiplies_durations_from_its_day(history: History) -> None:
    regressions = history.truth["regressions"]
    assert regressions
    for regression in regressions:
        durations: dict[bool, list[float]] = {True: [], False: []}
        for pr in history.pipeline_runs:
            if (pr["metadata"]["namespace"], derive.pipeline_name(pr)) != (
                regression["namespace"],
                regression["pipeline_name"],
            ):
                continue
            if _status(pr) != "succeeded":
                continue
            after = pr["metadata"]["creationTimestamp"][:10] >= regression["from_day"]
            durations[after].append(_t(pr["status"]["completionTime"]) - _t(pr["status"]["startTime"]))
        ratio = statistics.median(durations[True]) / statistics.median(durations[False])
        assert 1.3 < ratio < 2.5, ratio


def test_failing_streak_is_consecutive_and_recovers(history: History) -> None:
    streaks = history.truth["failing_streaks"]
    assert len(streaks) == 1
    streak = streaks[0]
    runs = sorted(
        (pr for pr in history.pipeline_runs if (pr["metadata"]["namespace"], derive.pipeline_name(pr)) == (streak["namespace"], streak["pipeline_name"]) and _status(pr) in ("succeeded", *FAILING, "cancelled")),
        key=derive.order_key,
    )  # fmt: skip
    uids = [r["metadata"]["uid"] for r in runs]
    first = uids.index(streak["run_uids"][0])
    assert uids[first : first + streak["length"]] == streak["run_uids"]
    assert streak["length"] == 5
    assert all(_status(r) == "failed" for r in runs[first : first + 5])
    assert _status(runs[first - 1]) == "succeeded"
    assert uids[first + 5] == streak["recovered_by"] and _status(runs[first + 5]) == "succeeded"
    assert not any(e["pipeline_name"] == streak["pipeline_name"] for e in history.truth["flaky_evidence"])


def _result_digests(obj: dict[str, Any]) -> set[str]:
    results = derive.results_of(obj)
    return {
        d
        for r in results
        if not r["name"].endswith("ARTIFACT_INPUTS")
        for d in DIGEST.findall(json.dumps(r["value"]))
    }


def test_artifacts_are_exactly_those_of_succeeded_producers(history: History) -> None:
    by_uid = history.by_uid()
    produced = {}
    for pr in history.pipeline_runs:
        if _status(pr) == "succeeded":
            for digest in _result_digests(pr):
                produced[digest] = pr["metadata"]["uid"]
    artifacts = history.truth["artifacts"]
    assert {a["digest"]: a["producer_run_uid"] for a in artifacts} == produced
    assert {a["kind"] for a in artifacts} == {"image", "artifact"}
    for artifact in artifacts:
        producer = by_uid[artifact["producer_run_uid"]]
        signed = producer["metadata"]["annotations"].get("chains.tekton.dev/signed") == "true"
        assert artifact["signed"] is signed
        assert artifact["produced_at"] == producer["status"]["completionTime"]
        assert "@" not in artifact["uri"] and not re.search(r":[\w.-]+$", artifact["uri"].split("/")[-1])
    failed_builds = [
        tr for tr in history.task_runs
        if _result_digests(tr) and _status(by_uid[history.parent_uid(tr) or ""]) != "succeeded"
    ]  # fmt: skip
    assert failed_builds, "images built inside a failing PipelineRun exist and must not count"
    commits = history.truth["artifacts_by_commit"]
    assert sorted(d for c in commits for d in c["digests"]) == sorted(produced)
    assert {c["repo_url"] for c in commits} <= {a["repo_url"] for a in artifacts}
    assert all(c["repo_url"] == derive.normalise_repo_url(c["repo_url"]) for c in commits)


def test_downstream_consumers_match_params(history: History) -> None:
    consumers: dict[str, set[str]] = defaultdict(set)
    for pr in history.pipeline_runs:
        for digest in DIGEST.findall(json.dumps(pr["spec"]["params"])):
            consumers[digest].add(pr["metadata"]["uid"])
    downstream = history.truth["downstream"]
    assert set(downstream) == {a["digest"] for a in history.truth["artifacts"]}
    assert {d: set(u) for d, u in downstream.items() if u} == dict(consumers)
    assert any(len(u) >= 2 for u in downstream.values()), "an image scanned and deployed"


def test_reruns_resolve_to_the_newest_earlier_run_of_that_name(history: History) -> None:
    reruns = history.truth["reruns"]
    assert any(r["original_status"] == "failed" and r["rerun_status"] == "succeeded" for r in reruns)
    by_uid = history.by_uid()
    for rerun in reruns:
        run = by_uid[rerun["rerun_uid"]]
        assert run["metadata"]["labels"]["dashboard.tekton.dev/rerunOf"] == rerun["original_name"]
        assert by_uid[rerun["original_uid"]]["metadata"]["name"] == rerun["original_name"]


def test_flaky_tasks_fail_at_their_injected_rate(history: History) -> None:
    """Attempts of an injected flaky task fail at about its rate (deliberate failures elsewhere add a little)."""
    pipeline_of = {pr["metadata"]["uid"]: derive.pipeline_name(pr) for pr in history.pipeline_runs}
    attempts: Counter[tuple[str, str, str]] = Counter()
    failed: Counter[tuple[str, str, str]] = Counter()
    for tr in history.task_runs:
        parent = history.parent_uid(tr)
        if not parent or _status(tr) not in ("succeeded", *FAILING):
            continue
        key = (
            tr["metadata"]["namespace"],
            pipeline_of[parent],
            tr["metadata"]["labels"]["tekton.dev/pipelineTask"],
        )
        statuses = [*tr["status"].get("retriesStatus", []), tr["status"]]
        attempts[key] += len(statuses)
        failed[key] += sum(1 for s in statuses if s["conditions"][0]["status"] == "False")
    checked = 0
    for task in history.truth["flaky_tasks"]:
        key = (task["namespace"], task["pipeline_name"], task["pipeline_task"])
        if task["rate"] and attempts[key] >= 20:
            assert 0.5 * task["rate"] <= failed[key] / attempts[key] <= 1.5 * task["rate"] + 0.05, (
                key,
                failed[key],
                attempts[key],
            )
            checked += 1
    assert checked
