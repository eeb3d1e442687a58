"""Hand-made Tekton PipelineRun / TaskRun objects, shaped like `kubectl get -o json` output (v1 and v1beta1)."""

from __future__ import annotations

from typing import Any

Condition = tuple[str, str | None]  # (status, reason)


def _status(
    condition: Condition | None,
    started: str | None,
    completed: str | None,
    message: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if condition is not None:
        entry = {"type": "Succeeded", "status": condition[0], "lastTransitionTime": completed or started}
        if condition[1]:
            entry["reason"] = condition[1]
        if message:
            entry["message"] = message
        status["conditions"] = [entry]
    if started:
        status["startTime"] = started
    if completed:
        status["completionTime"] = completed
    return status


def pipeline_run(
    uid: str,
    name: str,
    *,
    namespace: str = "ci",
    created: str = "2024-05-01T10:00:00Z",
    started: str | None = "2024-05-01T10:00:05Z",
    completed: str | None = "2024-05-01T10:05:05Z",
    condition: Condition | None = ("True", "Succeeded"),
    message: str | None = None,
    pipeline_ref: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    results: dict[str, Any] | None = None,
    api_version: str = "tekton.dev/v1",
    generate_name: str | None = None,
    spec: dict[str, Any] | None = None,
    service_account: str | None = None,
) -> dict[str, Any]:
    """A PipelineRun; v1beta1 puts results in status.pipelineResults and the SA in spec.serviceAccountName."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "creationTimestamp": created,
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
    }
    if generate_name:
        metadata["generateName"] = generate_name
    body_spec: dict[str, Any] = dict(spec or {})
    if pipeline_ref:
        body_spec["pipelineRef"] = {"name": pipeline_ref}
    if params:
        body_spec["params"] = [{"name": k, "value": v} for k, v in params.items()]
    beta = api_version.endswith("v1beta1")
    if service_account:
        if beta:
            body_spec["serviceAccountName"] = service_account
        else:
            body_spec["taskRunTemplate"] = {"serviceAccountName": service_account}
    status = _status(condition, started, completed, message)
    if results:
        status["pipelineResults" if beta else "results"] = [
            {"name": k, "value": v} for k, v in results.items()
        ]
    return {
        "apiVersion": api_version,
        "kind": "PipelineRun",
        "metadata": metadata,
        "spec": body_spec,
        "status": status,
    }


def step(
    name: str,
    exit_code: int | None = 0,
    started: str | None = "2024-05-01T10:00:20Z",
    finished: str | None = "2024-05-01T10:01:00Z",
    reason: str | None = None,
    waiting_reason: str | None = None,
) -> dict[str, Any]:
    """A status.steps entry: terminated with `exit_code`, or waiting when exit_code is None."""
    if exit_code is None:
        return {
            "name": name,
            "container": f"step-{name}",
            "waiting": {"reason": waiting_reason or "PodInitializing"},
        }
    terminated = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": started,
        "finishedAt": finished,
    }
    return {"name": name, "container": f"step-{name}", "terminated": terminated}


def task_run(
    uid: str,
    name: str,
    *,
    namespace: str = "ci",
    pipeline_run: dict[str, Any] | None = None,
    link: str = "both",
    pipeline_task: str | None = None,
    task: str | None = None,
    task_ref: str | None = None,
    created: str = "2024-05-01T10:00:06Z",
    started: str | None = "2024-05-01T10:00:07Z",
    completed: str | None = "2024-05-01T10:02:07Z",
    condition: Condition | None = ("True", "Succeeded"),
    message: str | None = None,
    steps: list[dict[str, Any]] | None = None,
    results: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    retries: list[Condition] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    api_version: str = "tekton.dev/v1",
) -> dict[str, Any]:
    """A TaskRun, linked to `pipeline_run` by label (`link='label'`), owner reference ('owner') or both."""
    all_labels = dict(labels or {})
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "creationTimestamp": created,
    }
    if pipeline_run is not None:
        parent = pipeline_run["metadata"]
        if link in ("label", "both"):
            all_labels["tekton.dev/pipelineRun"] = parent["name"]
        if link in ("owner", "both"):
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "name": parent["name"],
                    "uid": parent["uid"],
                }
            ]
    if pipeline_task:
        all_labels["tekton.dev/pipelineTask"] = pipeline_task
    if task:
        all_labels["tekton.dev/task"] = task
    metadata["labels"] = all_labels
    metadata["annotations"] = dict(annotations or {})
    spec: dict[str, Any] = {}
    if task_ref:
        spec["taskRef"] = {"name": task_ref}
    if params:
        spec["params"] = [{"name": k, "value": v} for k, v in params.items()]
    status = _status(condition, started, completed, message)
    if steps is not None:
        status["steps"] = steps
    if results:
        key = "taskResults" if api_version.endswith("v1beta1") else "results"
        status[key] = [{"name": k, "value": v} for k, v in results.items()]
    if retries:
        status["retriesStatus"] = [_status(c, started, completed) for c in retries]
    return {
        "apiVersion": api_version,
        "kind": "TaskRun",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }
