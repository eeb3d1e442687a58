"""The data-model rules (../shared/design/data-model.md) applied to emitted objects, in plain Python.

The ground truth is computed from what the generator actually wrote, through these functions, so random noise can
never make the truth file disagree with the objects. They are also a second, independent reading of the contract
that the dbt models implement in SQL.
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]

TIMEOUT_REASONS = frozenset({"PipelineRunTimeout", "TaskRunTimeout"})
CANCEL_REASONS = frozenset(
    {"Cancelled", "PipelineRunCancelled", "TaskRunCancelled", "CancelledRunFinally", "StoppedRunFinally"}
)
TERMINAL = ("succeeded", "failed", "timed_out", "cancelled")
FAILING = ("failed", "timed_out")
_HEX_COMMIT = re.compile(r"^[0-9a-fA-F]{7,40}$")
_SSH_URL = re.compile(r"^[\w.-]+@([^:/]+):(.+)$")
_SCHEME_HOST = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/]+)(.*)$")


def succeeded_condition(obj: Obj) -> Obj | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return cond
    return None


def run_status(obj: Obj) -> str:
    cond = succeeded_condition(obj)
    state = cond.get("status") if cond else None
    if state == "True":
        return "succeeded"
    if state == "False":
        reason = cond.get("reason", "") if cond else ""
        if reason in TIMEOUT_REASONS:
            return "timed_out"
        return "cancelled" if reason in CANCEL_REASONS else "failed"
    return "running" if obj.get("status", {}).get("startTime") else "pending"


def run_reason(obj: Obj) -> str:
    cond = succeeded_condition(obj)
    return (cond or {}).get("reason") or ""


def results_of(obj: Obj) -> list[Obj]:
    status = obj.get("status", {})
    return status.get("results") or status.get("pipelineResults") or status.get("taskResults") or []


def params_of(obj: Obj) -> list[Obj]:
    return obj.get("spec", {}).get("params") or []


def _named(entries: list[Obj]) -> dict[str, Any]:
    return {e.get("name"): e.get("value") for e in entries}


def pipeline_name(pr: Obj) -> str:
    md = pr["metadata"]
    labels = md.get("labels") or {}
    label = labels.get("tekton.dev/pipeline")
    if label and label != md.get("name"):
        return label
    ref = pr.get("spec", {}).get("pipelineRef") or {}
    if ref.get("name"):
        return ref["name"]
    ref_params = _named(ref.get("params") or [])
    if ref_params.get("name"):
        return ref_params["name"]
    if ref_params.get("pathInRepo"):
        return str(ref_params["pathInRepo"]).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if labels.get("pipelinesascode.tekton.dev/original-prname"):
        return labels["pipelinesascode.tekton.dev/original-prname"]
    if md.get("generateName"):
        return md["generateName"].removesuffix("-")
    return "(inline)"


def normalise_repo_url(url: str) -> str:
    url = url.strip()
    ssh = _SSH_URL.match(url)
    if ssh and "://" not in url:
        url = f"https://{ssh.group(1)}/{ssh.group(2)}"
    match = _SCHEME_HOST.match(url)
    if match:
        url = f"{match.group(1).lower()}://{match.group(2).lower()}{match.group(3)}"
    while url.endswith("/") or url.endswith(".git"):
        url = url.removesuffix("/").removesuffix(".git")
    return url


def code_source(pr: Obj, children: list[Obj]) -> tuple[str | None, str | None]:
    """(repo_url, commit_sha) by the data model's first-found order."""
    results = _named(results_of(pr))
    params = _named(params_of(pr))
    md = pr["metadata"]
    labels, annotations = md.get("labels") or {}, md.get("annotations") or {}
    clone_results = [_named(results_of(c)) for c in children]
    repo = next(
        (
            v
            for v in (
                results.get("REPO_URL"),
                results.get("CHAINS-GIT_URL"),
                *(params.get(k) for k in ("REPO_URL", "repo-url", "repo_url", "git-url", "url")),
                annotations.get("pipelinesascode.tekton.dev/repo-url"),
                *(r.get("url") for r in clone_results),
            )
            if isinstance(v, str) and v
        ),
        None,
    )
    commit_candidates = [results.get("REPO_COMMIT"), results.get("CHAINS-GIT_COMMIT")]
    commit_candidates += [
        v
        for k in ("REPO_COMMIT", "revision", "git-revision", "commit", "commit-sha")
        if isinstance(v := params.get(k), str) and _HEX_COMMIT.match(v)
    ]
    commit_candidates.append(labels.get("pipelinesascode.tekton.dev/sha"))
    commit_candidates += [r.get("commit") for r in clone_results]
    commit = next((v for v in commit_candidates if isinstance(v, str) and v), None)
    return (normalise_repo_url(repo) if repo else None, commit.lower() if commit else None)


def steps_of(obj: Obj) -> list[Obj]:
    return obj.get("status", {}).get("steps") or []


def failed_attempts(tr: Obj) -> int:
    return sum(
        1
        for entry in tr.get("status", {}).get("retriesStatus") or []
        if any(
            c.get("type") == "Succeeded" and c.get("status") == "False" for c in entry.get("conditions") or []
        )
    )


def failure_cause(run: Obj) -> str:
    """The cause of one failing run from its own reason, message and steps (rules 1-9)."""
    cond = succeeded_condition(run) or {}
    reason, message = cond.get("reason") or "", cond.get("message") or ""
    steps = steps_of(run)
    terminated = [s.get("terminated") or {} for s in steps]
    waiting = [(s.get("waiting") or {}).get("reason") for s in steps]
    if reason in TIMEOUT_REASONS:
        return "timeout"
    if any(t.get("reason") == "OOMKilled" for t in terminated):
        return "oom"
    if (
        "ImagePull" in reason
        or "PullImage" in reason
        or any(w in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName") for w in waiting)
    ):
        return "image_pull"
    if reason in ("ExceededResourceQuota", "ExceededNodeResources"):
        return "quota"
    if reason.startswith("CouldntGet") or "ResolutionFailed" in reason:
        return "resolution"
    if any(k in reason for k in ("Validation", "Invalid", "Missing", "Mismatch")) or reason == (
        "ResourceVerificationFailed"
    ):
        return "validation"
    if (
        reason in ("PodCreationFailed", "PodAdmissionFailed", "CreateContainerConfigError")
        or "evicted" in message
    ):
        return "pod_failure"
    if any((t.get("exitCode") or 0) != 0 for t in terminated):
        return "step_error"
    return "unknown"


def pipeline_run_cause(pr: Obj, children: list[Obj]) -> tuple[str, Obj]:
    """A PipelineRun takes the cause of its first failing TaskRun by completion time, else its own."""
    failing = [c for c in children if run_status(c) in FAILING]
    if failing:
        first = min(failing, key=lambda c: (c["status"].get("completionTime") or "", c["metadata"]["uid"]))
        return failure_cause(first), first
    return failure_cause(pr), pr


def order_key(obj: Obj) -> tuple[str, str]:
    return (
        obj.get("status", {}).get("startTime") or obj["metadata"]["creationTimestamp"],
        obj["metadata"]["uid"],
    )


def result_name(obj: Obj) -> str:
    """Tekton Results watcher naming (tekton-results-api.md §4)."""
    md = obj["metadata"]
    annotations, labels = md.get("annotations") or {}, md.get("labels") or {}
    if annotations.get("results.tekton.dev/result"):
        return annotations["results.tekton.dev/result"]
    namespace = md["namespace"]
    if labels.get("triggers.tekton.dev/triggers-eventid"):
        return f"{namespace}/results/{labels['triggers.tekton.dev/triggers-eventid']}"
    for owner in md.get("ownerReferences") or []:
        if owner.get("kind") == "PipelineRun":
            return f"{namespace}/results/{owner['uid']}"
    return f"{namespace}/results/{md['uid']}"


def record_name(obj: Obj) -> str:
    md = obj["metadata"]
    annotations = md.get("annotations") or {}
    if not md.get("ownerReferences") and annotations.get("results.tekton.dev/record"):
        return annotations["results.tekton.dev/record"]
    return f"{result_name(obj)}/records/{md['uid']}"
