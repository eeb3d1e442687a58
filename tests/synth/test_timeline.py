"""Timestamps in the order Tekton writes them, realistic timing, and every status and reason the marts classify."""

from __future__ import annotations

import statistics
from datetime import datetime

from tests.synth.conftest import History


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _step_starts(status: dict) -> list[str]:
    starts = []
    for step in status.get("steps", []):
        state = step.get("terminated") or step.get("running") or {}
        if "startedAt" in state:
            starts.append(state["startedAt"])
    return starts


def _check_attempt(status: dict, created: str) -> None:
    started, completed = status.get("startTime"), status.get("completionTime")
    if started:
        assert created <= started
    starts = _step_starts(status)
    if starts:
        assert started and started <= min(starts)
    if completed:
        assert started and started <= completed
        assert all(s <= completed for s in starts)
        for step in status.get("steps", []):
            if "terminated" in step:
                assert step["terminated"]["finishedAt"] <= completed
                assert step["terminated"]["startedAt"] <= step["terminated"]["finishedAt"]


def test_created_started_step_completed_are_ordered(history: History) -> None:
    for obj in history.objects:
        created = obj["metadata"]["creationTimestamp"]
        _check_attempt(obj["status"], created)
        previous_end = created
        for attempt in obj["status"].get("retriesStatus", []):
            _check_attempt(attempt, created)
            assert attempt["startTime"] >= previous_end
            previous_end = attempt["completionTime"]
        if obj["status"].get("retriesStatus"):
            assert obj["status"]["startTime"] >= previous_end


def test_children_live_inside_their_pipeline_run(history: History) -> None:
    prs = {pr["metadata"]["uid"]: pr for pr in history.pipeline_runs}
    for tr in history.task_runs:
        parent_uid = history.parent_uid(tr)
        if not parent_uid:
            continue
        parent = prs[parent_uid]
        assert tr["metadata"]["creationTimestamp"] >= parent["status"]["startTime"]
        if parent["status"].get("completionTime") and tr["status"].get("completionTime"):
            assert tr["status"]["completionTime"] <= parent["status"]["completionTime"]


def test_durations_queue_and_pod_waits_are_realistic(history: History) -> None:
    succeeded = [
        o for o in history.task_runs if o["status"].get("conditions", [{}])[0].get("reason") == "Succeeded"
    ]
    durations = [_t(o["status"]["completionTime"]) - _t(o["status"]["startTime"]) for o in succeeded]
    assert min(durations) >= 1 and 10 <= statistics.median(durations) <= 300 and max(durations) > 600
    waits = [_t(min(_step_starts(o["status"]))) - _t(o["status"]["startTime"]) for o in succeeded]
    assert min(waits) >= 1 and statistics.median(waits) < 10 and max(waits) > 20, "slow image pulls exist"
    queues = [
        _t(o["status"]["startTime"]) - _t(o["metadata"]["creationTimestamp"])
        for o in history.pipeline_runs
        if o["status"].get("startTime")
    ]
    assert statistics.median(queues) <= 5 and max(queues) > 5


def test_load_is_diurnal_and_weekday_heavy(history: History) -> None:
    created = [datetime.fromisoformat(o["metadata"]["creationTimestamp"][:19]) for o in history.pipeline_runs]
    day_hours = sum(1 for c in created if 8 <= c.hour < 18)
    night_hours = sum(1 for c in created if c.hour < 5)
    assert day_hours > 4 * night_hours
    weekday = sum(1 for c in created if c.weekday() < 5) / 5
    weekend = sum(1 for c in created if c.weekday() >= 5) / 2
    assert weekday > 1.5 * weekend


EXPECTED_REASONS = {
    "PipelineRun": {
        "Succeeded",
        "Completed",
        "Failed",
        "PipelineRunTimeout",
        "Cancelled",
        "CancelledRunFinally",
        "StoppedRunFinally",
        "CouldntGetTask",
        "CouldntGetPipeline",
        "PipelineValidationFailed",
        "ParameterMissing",
        "InvalidParamValue",
        "ResourceVerificationFailed",
        "Running",
        "PipelineRunPending",
    },
    "TaskRun": {
        "Succeeded",
        "Failed",
        "TaskRunTimeout",
        "TaskRunCancelled",
        "TaskRunImagePullFailed",
        "ExceededResourceQuota",
        "ExceededNodeResources",
        "PodCreationFailed",
        "CreateContainerConfigError",
        "CouldntGetTask",
        "TaskRunValidationFailed",
        "Running",
        "Pending",
    },
}


def _reason(obj: dict) -> str | None:
    conditions = obj["status"].get("conditions") or [{}]
    return conditions[0].get("reason")


def test_every_reason_appears(history: History) -> None:
    for kind, expected in EXPECTED_REASONS.items():
        seen = {_reason(o) for o in history.objects if o["kind"] == kind}
        assert expected <= seen, f"{kind} reasons missing: {sorted(expected - seen)}"
    messages = [o["status"].get("conditions", [{}])[0].get("message", "") for o in history.task_runs]
    assert any("evicted" in m for m in messages)


def test_running_and_pending_runs_exist(history: History) -> None:
    statuses = {
        (o["kind"], _reason(o), "startTime" in o["status"], "completionTime" in o["status"])
        for o in history.objects
    }
    assert ("PipelineRun", "Running", True, False) in statuses
    assert ("PipelineRun", "PipelineRunPending", False, False) in statuses
    assert ("TaskRun", "Pending", False, False) in statuses
    running_steps = [s for o in history.task_runs for s in o["status"].get("steps", []) if "running" in s]
    assert running_steps
