"""Turn simulated runs into Kubernetes objects, in tekton.dev/v1 or tekton.dev/v1beta1 shape.

The two API versions differ only in field names (tekton-results-api.md §5): v1 has `status.results`,
`status.childReferences` and `spec.taskRunTemplate.serviceAccountName`; v1beta1 has `status.taskResults` /
`status.pipelineResults`, the `status.taskRuns` map and `spec.serviceAccountName`. Specs that are the same for every
run of a pipeline or task are built once and shared, which keeps rendering cheap.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from etl.synth.clock import rfc3339
from etl.synth.model import PipelineDef, TaskDef
from etl.synth.simulate import Attempt, PipelineRunSim, Step, TaskRunSim

V1 = "tekton.dev/v1"
V1BETA1 = "tekton.dev/v1beta1"


@dataclass
class RunMeta:
    """Identity and decoration of one run, decided by the scheduler."""

    name: str
    uid: str
    api_version: str
    namespace: str
    generate_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, object]] = field(default_factory=list)
    results: list[tuple[str, object]] = field(default_factory=list)
    pipeline_ref: dict[str, object] | None = None
    resource_version: str = "1"
    managed_fields: bool = False
    embed_spec: bool = False
    service_account: str = "default"
    owner_reference: bool = True  # False: a child linked to its PipelineRun by the name label only


@lru_cache(maxsize=256)
def image_id(image: str) -> str:
    repo = image.split("@")[0].rsplit(":", 1)[0] if "/" in image else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _param_list(params: list[tuple[str, object]]) -> list[dict[str, object]]:
    return [{"name": n, "value": v} for n, v in params]


def _result_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _typed_results(results: list[tuple[str, object]]) -> list[dict[str, object]]:
    return [{"name": n, "type": _result_type(v), "value": v} for n, v in results]


def _condition(status: str, reason: str, message: str, at: int) -> list[dict[str, str]]:
    return [
        {
            "type": "Succeeded",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": rfc3339(at),
        }
    ]


def _step_status(step: Step, api_version: str) -> dict[str, object]:
    state: dict[str, object]
    if step.running:
        state = {"running": {"startedAt": rfc3339(step.started or 0)}}
    elif step.waiting is not None and step.started is None:
        waiting: dict[str, str] = {"reason": step.waiting}
        if step.waiting_message:
            waiting["message"] = step.waiting_message
        state = {"waiting": waiting}
    else:
        state = {
            "terminated": {
                "exitCode": step.exit_code,
                "reason": step.reason,
                "startedAt": rfc3339(step.started or 0),
                "finishedAt": rfc3339(step.finished or 0),
            }
        }
        if api_version == V1:
            state["terminationReason"] = "Skipped" if step.skipped else "Completed"
    entry: dict[str, object] = {"name": step.name, "container": f"step-{step.name}"}
    if step.started is not None:  # a step still waiting has not pulled its image yet
        entry["imageID"] = image_id(step.image)
    entry.update(state)
    return entry


def _attempt_status(attempt: Attempt, api_version: str) -> dict[str, object]:
    last = attempt.end or max((s.started or 0 for s in attempt.steps), default=attempt.start)
    status: dict[str, object] = {
        "conditions": _condition(attempt.status, attempt.reason, attempt.message, max(last, attempt.start))
    }
    if attempt.pod_name:
        status["podName"] = attempt.pod_name
    if attempt.start >= 0:
        status["startTime"] = rfc3339(attempt.start)
    if attempt.end is not None:
        status["completionTime"] = rfc3339(attempt.end)
    if attempt.steps:
        status["steps"] = [_step_status(s, api_version) for s in attempt.steps]
    return status


# Specs shared by many objects are encoded once: objects carry a placeholder string that the writer swaps for the
# pre-encoded JSON text (`expand_raw`), which saves re-encoding kilobytes of identical spec per object.
_RAW_TEXT: dict[str, str] = {}
_RAW_TOKEN = re.compile(r'"@@raw:(\d+)@@"')
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _raw(value: object) -> str:
    token = f"@@raw:{len(_RAW_TEXT)}@@"
    _RAW_TEXT[token[6:-2]] = _encode(value)
    return token


def expand_raw(text: str) -> str:
    """Replace spec placeholders in an encoded object with their JSON text."""
    if '"@@raw:' not in text:
        return text
    return _RAW_TOKEN.sub(lambda m: _RAW_TEXT[m.group(1)], text)


@lru_cache(maxsize=1024)
def task_spec_token(task: TaskDef) -> str:
    return _raw(task_spec(task))


@lru_cache(maxsize=4096)
def pipeline_spec_token(pipeline: PipelineDef, inline_tasks: bool) -> str:
    return _raw(pipeline_spec(pipeline, inline_tasks))


@lru_cache(maxsize=1024)
def task_spec(task: TaskDef) -> dict[str, object]:
    """The resolved Task spec Tekton copies into `status.taskSpec` (same object shared across runs)."""
    return {
        "params": [{"name": "args", "type": "array", "default": []}],
        "steps": [
            {
                "name": step,
                "image": task.image,
                "script": f'#!/usr/bin/env sh\nset -eu\n# {task.task_ref}: {step}\n/usr/local/bin/{step} "$@"\n',
                "computeResources": {
                    "limits": {"memory": "2Gi"},
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                },
            }
            for step in task.steps
        ],
        "results": [{"name": "RESULT", "type": "string", "description": "task output"}],
    }


def _pipeline_task_spec(task: TaskDef, run_after: list[str], inline: bool) -> dict[str, object]:
    entry: dict[str, object] = {"name": task.name}
    entry["taskSpec" if inline else "taskRef"] = (
        task_spec(task) if inline else {"name": task.task_ref, "kind": "Task"}
    )
    if run_after:
        entry["runAfter"] = run_after
    if task.retries:
        entry["retries"] = task.retries
    if task.skip_on_pull_request:
        entry["when"] = [{"input": "$(params.event-type)", "operator": "in", "values": ["push"]}]
    return entry


@lru_cache(maxsize=4096)
def pipeline_spec(pipeline: PipelineDef, inline_tasks: bool) -> dict[str, object]:
    """The resolved Pipeline spec (`spec.pipelineSpec` inline or `status.pipelineSpec`), shared across runs."""
    tasks, previous = [], []
    for level in pipeline.levels:
        tasks.extend(_pipeline_task_spec(t, previous, inline_tasks) for t in level)
        previous = [t.name for t in level]
    spec: dict[str, object] = {
        "params": [{"name": "event-type", "type": "string", "default": "push"}],
        "workspaces": [{"name": "source"}],
        "tasks": tasks,
    }
    if pipeline.finally_tasks:
        spec["finally"] = [_pipeline_task_spec(t, [], inline_tasks) for t in pipeline.finally_tasks]
    return spec


def _managed_fields(api_version: str, at: int) -> list[dict[str, object]]:
    return [
        {
            "manager": "controller",
            "operation": "Update",
            "apiVersion": api_version,
            "time": rfc3339(at),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:status": {".": {}, "f:conditions": {}, "f:startTime": {}, "f:completionTime": {}}
            },
            "subresource": "status",
        }
    ]


def _metadata(meta: RunMeta, created: int, last_change: int) -> dict[str, object]:
    md: dict[str, object] = {"name": meta.name}
    if meta.generate_name:
        md["generateName"] = meta.generate_name
    md.update(
        {
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
            "generation": 1,
            "creationTimestamp": rfc3339(created),
            "labels": meta.labels,
            "annotations": meta.annotations,
        }
    )
    if meta.managed_fields:
        md["managedFields"] = _managed_fields(meta.api_version, last_change)
    return md


def render_pipeline_run(sim: PipelineRunSim, meta: RunMeta, children: list[RunMeta]) -> dict[str, object]:
    v1 = meta.api_version == V1
    pipeline = sim.pipeline
    spec: dict[str, object] = {}
    if meta.pipeline_ref is not None:
        spec["pipelineRef"] = meta.pipeline_ref
    else:
        spec["pipelineSpec"] = pipeline_spec_token(pipeline, True)
    spec["params"] = _param_list(meta.params)
    if v1:
        spec["taskRunTemplate"] = {"serviceAccountName": meta.service_account}
    else:
        spec["serviceAccountName"] = meta.service_account
    if v1 or meta.uid[-1] in "01234567":
        spec["timeouts"] = {"pipeline": sim.pipeline_timeout}
    else:
        spec["timeout"] = sim.pipeline_timeout  # the deprecated v1beta1 field, still common in old records
    spec["workspaces"] = [
        {"name": "source", "volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}}
    ]
    if sim.spec_status:
        spec["status"] = sim.spec_status
    status: dict[str, object] = {}
    last = sim.end or max((tr.created for tr in sim.task_runs), default=sim.start or sim.created)
    if sim.reason:
        status["conditions"] = _condition(sim.status, sim.reason, sim.message, last)
    if sim.start is not None:
        status["startTime"] = rfc3339(sim.start)
    if sim.end is not None:
        status["completionTime"] = rfc3339(sim.end)
    if sim.task_runs:
        if v1:
            status["childReferences"] = [
                {"apiVersion": V1, "kind": "TaskRun", "name": tr.name, "pipelineTaskName": tr.task.name}
                for tr in sim.task_runs
            ]
        else:
            status["taskRuns"] = {
                tr.name: {
                    "pipelineTaskName": tr.task.name,
                    "status": _attempt_status(tr.final, meta.api_version),
                }
                for tr in sim.task_runs
            }
    if meta.results:
        status["results" if v1 else "pipelineResults"] = [{"name": n, "value": v} for n, v in meta.results]
    if sim.skipped:
        status["skippedTasks"] = [_skipped(s) for s in sim.skipped]
    if sim.finally_start is not None and sim.start is not None and sim.end is not None:
        status["finallyStartTime"] = rfc3339(sim.finally_start)
    if meta.embed_spec and sim.start is not None:
        status["pipelineSpec"] = pipeline_spec_token(pipeline, False)
    if meta.pipeline_ref and meta.pipeline_ref.get("resolver") and sim.start is not None:
        status["provenance"] = {
            "refSource": {
                "uri": _ref_uri(meta.pipeline_ref),
                "digest": {"sha1": meta.uid.replace("-", "")[:40]},
            }
        }
    return {
        "apiVersion": meta.api_version,
        "kind": "PipelineRun",
        "metadata": _metadata(meta, sim.created, last),
        "spec": spec,
        "status": status,
    }


def _ref_uri(ref: dict[str, object]) -> str:
    params = {p["name"]: p["value"] for p in ref.get("params", [])}  # type: ignore[union-attr,index]
    return str(params.get("url") or params.get("bundle") or params.get("name") or "")


def _skipped(skip: object) -> dict[str, object]:
    entry: dict[str, object] = {"name": skip.name, "reason": skip.reason}  # type: ignore[attr-defined]
    if skip.when:  # type: ignore[attr-defined]
        entry["whenExpressions"] = [{"input": "pull_request", "operator": "in", "values": ["push"]}]
    return entry


def render_task_run(
    tr: TaskRunSim, meta: RunMeta, owner: RunMeta | None, *, inline_task: bool = False
) -> dict[str, object]:
    v1 = meta.api_version == V1
    spec: dict[str, object] = {"params": _param_list(meta.params), "serviceAccountName": meta.service_account}
    if inline_task:
        spec["taskSpec"] = task_spec_token(tr.task)
    else:
        spec["taskRef"] = {"name": tr.task.task_ref, "kind": "Task"}
    spec["timeout"] = tr.timeout
    if tr.task.retries:
        spec["retries"] = tr.task.retries
    if tr.final.reason == "TaskRunCancelled" and owner is None:
        spec["status"] = "TaskRunCancelled"
    final = tr.final
    status = _attempt_status(final, meta.api_version)
    if meta.results and final.status == "True":
        status["results" if v1 else "taskResults"] = _typed_results(meta.results)
    if len(tr.attempts) > 1:
        status["retriesStatus"] = [_attempt_status(a, meta.api_version) for a in tr.attempts[:-1]]
    if meta.embed_spec and final.start >= 0:
        status["taskSpec"] = task_spec_token(tr.task)
    last = final.end or max(final.start, tr.created)
    obj = {
        "apiVersion": meta.api_version,
        "kind": "TaskRun",
        "metadata": _metadata(meta, tr.created, last),
        "spec": spec,
        "status": status,
    }
    if owner is not None and meta.owner_reference:
        obj["metadata"]["ownerReferences"] = [  # type: ignore[index]
            {
                "apiVersion": owner.api_version,
                "kind": "PipelineRun",
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return obj
