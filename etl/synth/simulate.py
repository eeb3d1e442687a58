"""Simulate one run's timeline and outcome (no JSON yet): when each TaskRun, attempt and step started and ended,
and how it failed.

The simulation works on plain dataclasses; `render.py` turns them into Kubernetes objects of either API version.
Keeping the two apart lets the timeline logic (cuts for cancel, timeout, still-running) be written once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from etl.synth.clock import go_duration
from etl.synth.model import PipelineDef, TaskDef

# PipelineRun outcomes the scheduler can ask for. Task-level failure modes fail one chosen TaskRun.
TASK_FAILURE_MODES = ("step_error", "oom", "image_pull", "task_timeout", "quota", "pod_creation", "evicted")
PIPELINE_FAILURE_MODES = ("couldnt_get_pipeline", "couldnt_get_task", "validation")
CUT_MODES = ("pr_timeout", "cancelled", "cancelled_finally", "stopped_finally")
# Reasons only standalone TaskRuns show come first, so even a short history has them all.
STANDALONE_FAILURE_MODES = (
    "container_config",
    "couldnt_get_task",
    "validation",
    "node_resources",
    "cancelled",
    "step_error",
    "oom",
    "image_pull",
    "task_timeout",
    "evicted",
    "quota",
    "pod_creation",
)
VALIDATION_REASONS = (
    "PipelineValidationFailed",
    "ParameterMissing",
    "InvalidParamValue",
    "ResourceVerificationFailed",
    "ParameterTypeMismatch",
    "InvalidWorkspaceBindings",
)


@dataclass
class Step:
    name: str
    image: str
    started: int | None = None
    finished: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    waiting: str | None = None
    waiting_message: str | None = None
    running: bool = False
    skipped: bool = False


@dataclass
class Attempt:
    pod_name: str
    start: int
    end: int | None
    steps: list[Step]
    status: str  # True | False | Unknown
    reason: str
    message: str
    failed_by: str | None = None  # the failure mode, for the truth only


@dataclass
class TaskRunSim:
    task: TaskDef
    name: str
    uid: str
    created: int
    attempts: list[Attempt]
    member_of: str  # tasks | finally
    timeout: str
    results: list[tuple[str, str, object]] = field(default_factory=list)
    params: list[tuple[str, object]] = field(default_factory=list)

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def pending(self) -> bool:
        """Created but not yet started when history ends."""
        return self.attempts[-1].start < 0

    @property
    def failed(self) -> bool:
        return self.final.status == "False"


@dataclass
class SkippedTask:
    name: str
    reason: str
    when: bool = False


@dataclass
class PipelineRunSim:
    pipeline: PipelineDef
    created: int
    start: int | None
    end: int | None
    status: str
    reason: str
    message: str
    task_runs: list[TaskRunSim]
    skipped: list[SkippedTask]
    spec_status: str | None = None
    pipeline_timeout: str = "1h0m0s"
    finally_start: int | None = None
    flaky_failed: bool = False  # failed only because an injected flaky task failed all its attempts
    mode: str = "success"


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _step_durations(rng: random.Random, task: TaskDef, factor: float) -> list[int]:
    total = lognormal(rng, task.median_s * factor, task.sigma)
    if rng.random() < 0.05:
        total *= rng.uniform(1.8, 3.0)  # a cold cache or a noisy node: the long tail real durations have
    weights = [0.15 + rng.random() for _ in task.steps]
    scale = total / sum(weights)
    return [max(1, round(w * scale)) for w in weights]


def _pod_wait(rng: random.Random) -> int:
    """TaskRun start → first step start: scheduling plus image pulls, occasionally a slow pull."""
    if rng.random() < 0.04:
        return rng.randint(25, 95)
    return max(1, round(lognormal(rng, 3.0, 0.6)))


def nominal_attempt(rng: random.Random, task: TaskDef, start: int, factor: float, pod_name: str) -> Attempt:
    """Every step runs to completion."""
    t = start + _pod_wait(rng)
    steps = []
    for name, duration in zip(task.steps, _step_durations(rng, task, factor), strict=True):
        steps.append(
            Step(name, task.image, started=t, finished=t + duration, exit_code=0, reason="Completed")
        )
        t += duration + rng.randint(0, 1)
    return Attempt(pod_name, start, t + 1, steps, "True", "Succeeded", "All Steps have completed executing")


def timeout_limit(attempt: Attempt) -> int:
    """A TaskRun timeout short enough that this attempt hits it."""
    assert attempt.end is not None
    return max(2, int((attempt.end - attempt.start) * 0.6))


def _skip_rest(steps: list[Step], after: int, at: int, reason: str) -> None:
    for step in steps[after + 1 :]:
        step.started, step.finished, step.exit_code, step.reason, step.skipped = at, at, 1, reason, True


def fail_attempt(
    rng: random.Random, attempt: Attempt, mode: str, tr_name: str, namespace: str, limit: int = 0
) -> Attempt:
    """Turn a nominal attempt into a failed one, failing the way `mode` says."""
    steps = attempt.steps
    attempt.status, attempt.failed_by = "False", mode
    main = min(1, len(steps) - 1)
    if mode in ("step_error", "flaky", "oom", "evicted"):
        step = steps[main]
        step.finished = step.started + max(1, int((step.finished - step.started) * rng.uniform(0.3, 1.0)))
        step.exit_code = 137 if mode in ("oom", "evicted") else 1
        step.reason = "OOMKilled" if mode == "oom" else "Error"
        _skip_rest(steps, main, step.finished, "Error")
        attempt.end = step.finished + 1
        attempt.reason = "Failed"
        attempt.message = f'"step-{step.name}" exited with code {step.exit_code}'
        if mode == "evicted":
            attempt.message = (
                "The node was low on resource: ephemeral-storage. Threshold quantity: 2Gi, available: 1200Mi. "
                f"Pod {attempt.pod_name} was evicted."
            )
        if mode == "flaky":
            attempt.message += ": connection reset by peer (test_checkout_flow)"
        return attempt
    if mode == "task_timeout":
        limit = limit or timeout_limit(attempt)
        cut = attempt.start + limit
        cut_attempt(attempt, cut, "TaskRunTimeout")
        attempt.status, attempt.failed_by = "False", mode
        attempt.reason = "TaskRunTimeout"
        attempt.message = f'TaskRun "{tr_name}" failed to finish within "{go_duration(limit)}"'
        attempt.end = cut
        return attempt
    if mode in ("image_pull", "container_config"):
        failing = steps[rng.randrange(len(steps))]
        for step in steps:
            step.started = step.finished = step.exit_code = step.reason = None
            step.waiting = "PodInitializing"
        if mode == "image_pull":
            failing.waiting = ("ImagePullBackOff", "ErrImagePull")[rng.randrange(2)]
            failing.waiting_message = f'Back-off pulling image "{failing.image}"'
            attempt.reason = "TaskRunImagePullFailed"
            attempt.message = (
                f'the step "{failing.name}" in TaskRun "{tr_name}" failed to pull the image "{failing.image}". '
                f'The pod errored with the message: "Back-off pulling image "{failing.image}"."'
            )
            attempt.end = attempt.start + rng.randint(60, 300)
        else:
            failing.waiting = "CreateContainerConfigError"
            failing.waiting_message = 'secret "db-credentials" not found'
            attempt.reason = "CreateContainerConfigError"
            attempt.message = (
                f'Failed to create pod for TaskRun "{tr_name}": secret "db-credentials" not found'
            )
            attempt.end = attempt.start + rng.randint(20, 120)
        return attempt
    # Failures before the pod exists: no steps at all.
    attempt.steps = []
    attempt.end = attempt.start + rng.randint(0, 5)
    attempt.reason, attempt.message = _pre_pod_failure(mode, tr_name, attempt.pod_name, namespace)
    if mode in ("couldnt_get_task", "validation"):
        attempt.pod_name = ""
    return attempt


def _pre_pod_failure(mode: str, tr_name: str, pod: str, namespace: str) -> tuple[str, str]:
    if mode == "quota":
        return "ExceededResourceQuota", (
            f'TaskRun Pod exceeded available resources: pods "{pod}" is forbidden: exceeded quota: '
            f"{namespace}-quota, requested: limits.memory=4Gi, used: limits.memory=30Gi, limited: limits.memory=32Gi"
        )
    if mode == "node_resources":
        return "ExceededNodeResources", "TaskRun Pod exceeded available resources: 0/6 nodes are available"
    if mode == "pod_creation":
        return "PodCreationFailed", (
            f'failed to create task run pod "{tr_name}": admission webhook "validate.kyverno.svc" denied the '
            "request: image registry not allowed"
        )
    if mode == "couldnt_get_task":
        return (
            "CouldntGetTask",
            f'error when listing tasks for taskRun {tr_name}: tasks.tekton.dev "{tr_name}" not found',
        )
    if mode == "validation":
        return (
            "TaskRunValidationFailed",
            f"invalid input params for task {tr_name}: missing parameters: [target]",
        )
    raise ValueError(f"unknown failure mode {mode}")


def cut_attempt(attempt: Attempt, at: int, how: str) -> None:
    """Stop an attempt at `at`: steps running then end with `how` (a reason), or stay running when how='running'."""
    for step in attempt.steps:
        if step.finished is not None and step.finished <= at:
            continue
        if step.started is not None and step.started <= at:
            if how == "running":
                step.finished = step.exit_code = step.reason = None
                step.running = True
            else:
                step.finished, step.exit_code, step.reason = at, 1, how
        elif how == "running":
            step.started = step.finished = step.exit_code = step.reason = None
            if step.waiting is None:
                step.waiting = "PodInitializing"
        else:
            step.started, step.finished, step.exit_code, step.reason, step.skipped = at, at, 1, how, True
    if how == "running":
        attempt.end = None
        attempt.status, attempt.reason, attempt.message = (
            "Unknown",
            "Running",
            "Not all Steps in the Task have finished executing",
        )
    else:
        attempt.end = at


@dataclass
class SimContext:
    """What every simulation needs: the seeded RNG, the uid source and the end of history."""

    rng: random.Random
    now: int
    flaky_debt: dict[tuple[int, str], float] = field(default_factory=dict)
    failure_turns: dict[int, int] = field(default_factory=dict)

    def flaky_attempt(self, pipeline: PipelineDef, task: TaskDef) -> bool:
        """Does this attempt of a flaky task fail? Error diffusion with jitter: the realised failure rate tracks
        the injected one closely even over a few dozen runs, so every injected flaky task shows up."""
        key = (id(pipeline), task.name)
        debt = self.flaky_debt.get(key)
        if debt is None:
            debt = self.rng.random()
        debt += task.flaky_rate * self.rng.uniform(0.6, 1.4)
        failed = debt >= 1.0
        self.flaky_debt[key] = debt - 1.0 if failed else debt
        return failed

    def failure_target(self, pipeline: PipelineDef, candidates: list[str]) -> str:
        """Task failures take the pipeline's tasks in turn, so late tasks (after an image is built) fail too."""
        turn = self.failure_turns.get(id(pipeline), self.rng.randrange(len(candidates)))
        self.failure_turns[id(pipeline)] = turn + 1
        return candidates[turn % len(candidates)]

    def uid(self) -> str:
        bits = self.rng.getrandbits(128)
        bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)
        bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def child_name(parent: str, suffix: str) -> str:
    """Kubernetes child naming (knative kmeta.ChildName): parent-suffix, hashed down to 63 characters."""
    name = f"{parent}-{suffix}"
    if len(name) <= 63:
        return name
    import hashlib

    digest = hashlib.md5(name.encode()).hexdigest()
    return f"{parent[: 63 - len(digest) - 1]}-{digest}"[:63]


def simulate_task_run(
    ctx: SimContext,
    task: TaskDef,
    name: str,
    namespace: str,
    created: int,
    *,
    factor: float,
    member_of: str,
    fail_mode: str | None = None,
    flaky: Callable[[], bool] | None = None,
) -> TaskRunSim:
    """Attempts (with Tekton retries) of one TaskRun; `fail_mode` fails every attempt, `flaky()` says for each."""
    rng = ctx.rng
    start = created + rng.randint(0, 2)
    attempts: list[Attempt] = []
    limit = 0
    for number in range(task.retries + 1):
        pod = f"{name}-pod" + (f"-retry{number}" if number else "")
        attempt = nominal_attempt(rng, task, start, factor, pod)
        mode = fail_mode
        if mode is None and flaky is not None and flaky():
            mode = "flaky"
        if mode == "task_timeout" and not limit:
            limit = timeout_limit(attempt)
        if mode is not None:
            fail_attempt(rng, attempt, mode, name, namespace, limit)
        attempts.append(attempt)
        if attempt.status == "True":
            break
        assert attempt.end is not None
        start = attempt.end + rng.randint(1, 3)
    timeout = go_duration(limit) if limit else task.timeout
    return TaskRunSim(task, name, ctx.uid(), created, attempts, member_of, timeout)


def _task_failure_target(ctx: SimContext, pipeline: PipelineDef, mode: str, event_type: str) -> str:
    """A task that will run (not skipped by a when expression) and is not the clone, when there is a choice."""
    runnable = [t for t in pipeline.tasks if not (t.skip_on_pull_request and event_type == "pull_request")]
    # Flaky tasks are left to their flakiness, so their failures are exactly the injected ones.
    candidates = [t.name for t in runnable if not t.git_clone and not t.flaky_rate] or [
        t.name for t in runnable
    ]
    if mode == "task_timeout":
        durations = {t.name: t.median_s for t in runnable}
        return max(candidates, key=lambda name: durations[name])
    return ctx.failure_target(pipeline, candidates)


def simulate_pipeline_run(
    ctx: SimContext,
    pipeline: PipelineDef,
    name: str,
    created: int,
    *,
    mode: str,
    event_type: str,
    factor: float,
    flaky: bool = True,
    fail_task: str | None = None,
) -> PipelineRunSim:
    """The whole PipelineRun: task levels in order, failures, cuts (timeout/cancel/stop), finally tasks.

    `fail_task` pins which task a task-level failure mode hits (a rerun failing the same way as its original).
    """
    rng = ctx.rng
    start = created + max(0, round(lognormal(rng, 1.5, 0.9)))
    sim = PipelineRunSim(pipeline, created, start, None, "True", "Succeeded", "", [], [], mode=mode)
    if mode.partition(":")[0] in PIPELINE_FAILURE_MODES:
        return _fail_before_tasks(sim, name, mode, rng)
    failing = None
    if mode in TASK_FAILURE_MODES:
        failing = fail_task or _task_failure_target(ctx, pipeline, mode, event_type)
    main_end = _run_levels(ctx, sim, name, start, failing, mode, event_type, factor, flaky)
    finally_start: int | None = main_end + 1
    if mode in CUT_MODES:
        finally_start = _apply_cut(ctx, sim, name, mode, start, main_end)
    if finally_start is not None and pipeline.finally_tasks:
        sim.finally_start = finally_start
        for task in pipeline.finally_tasks:
            tr_name = child_name(name, task.name)
            sim.task_runs.append(
                simulate_task_run(
                    ctx, task, tr_name, pipeline.namespace, finally_start, factor=factor, member_of="finally"
                )
            )
    _settle(sim, name, mode)
    clip_pipeline_run(ctx, sim)
    return sim


def _fail_before_tasks(sim: PipelineRunSim, name: str, mode: str, rng: random.Random) -> PipelineRunSim:
    assert sim.start is not None
    sim.end = sim.start + rng.randint(0, 2)
    sim.status = "False"
    pipeline = sim.pipeline
    if mode == "couldnt_get_pipeline":
        sim.reason = "CouldntGetPipeline"
        sim.message = (
            f"Error retrieving pipeline for pipelinerun {pipeline.namespace}/{name}: error requesting remote "
            f'resource: pipelines.tekton.dev "{pipeline.name}" not found'
        )
    elif mode == "couldnt_get_task":
        task = pipeline.tasks[-1].task_ref
        sim.reason = "CouldntGetTask"
        sim.message = (
            f"Pipeline {pipeline.namespace}/{pipeline.name} can't be Run; it contains Tasks that don't exist: "
            f'Couldn\'t retrieve Task "{task}": tasks.tekton.dev "{task}" not found'
        )
    else:
        # "validation" alone picks a reason at random; "validation:<Reason>" asks for that one.
        reason = mode.partition(":")[2]
        sim.reason = reason or VALIDATION_REASONS[rng.randrange(len(VALIDATION_REASONS))]
        sim.message = f'PipelineRun {pipeline.namespace}/{name} parameters are invalid: "revision" is missing or invalid'
    return sim


def _run_levels(
    ctx: SimContext,
    sim: PipelineRunSim,
    name: str,
    start: int,
    failing: str | None,
    mode: str,
    event_type: str,
    factor: float,
    flaky: bool,
) -> int:
    rng, pipeline = ctx.rng, sim.pipeline
    t, stopped = start, False
    for level in pipeline.levels:
        level_runs = []
        for task in level:
            if stopped:
                sim.skipped.append(SkippedTask(task.name, "PipelineRun was stopping"))
                continue
            if task.skip_on_pull_request and event_type == "pull_request":
                sim.skipped.append(SkippedTask(task.name, "When Expressions evaluated to false", when=True))
                continue
            tr = simulate_task_run(
                ctx,
                task,
                child_name(name, task.name),
                pipeline.namespace,
                t + rng.randint(0, 1),
                factor=factor,
                member_of="tasks",
                fail_mode=mode if task.name == failing else None,
                flaky=partial(ctx.flaky_attempt, pipeline, task) if flaky and task.flaky_rate else None,
            )
            level_runs.append(tr)
        sim.task_runs.extend(level_runs)
        if level_runs:
            t = max(tr.final.end or tr.created for tr in level_runs) + rng.randint(1, 2)
        stopped = stopped or any(tr.failed for tr in level_runs)
    return t


def _apply_cut(
    ctx: SimContext, sim: PipelineRunSim, name: str, mode: str, start: int, main_end: int
) -> int | None:
    """Timeout, cancel or graceful stop part-way: returns when finally tasks start (None: they never run)."""
    rng = ctx.rng
    cut = start + max(1, int((main_end - start) * rng.uniform(0.3, 0.8)))
    kept = []
    for tr in sim.task_runs:
        if tr.created >= cut:
            sim.skipped.append(SkippedTask(tr.task.name, _cut_skip_reason(mode)))
            continue
        kept.append(tr)
        if mode == "stopped_finally" or (tr.final.end or 0) <= cut:
            continue
        tr.attempts = [a for a in tr.attempts if a.start < cut] or [
            Attempt(f"{tr.name}-pod", cut, cut, [], "False", "TaskRunCancelled", "")
        ]
        cut_attempt(tr.final, cut, "TaskRunCancelled")
        why = "has timed out" if mode == "pr_timeout" else "has been cancelled"
        tr.final.status, tr.final.reason = "False", "TaskRunCancelled"
        tr.final.message = (
            f'TaskRun "{tr.name}" was cancelled. TaskRun cancelled as the PipelineRun it belongs to {why}.'
        )
    sim.task_runs = kept
    sim.end = cut
    if mode == "pr_timeout":
        sim.pipeline_timeout = go_duration(cut - start)
        return None
    sim.spec_status = {"cancelled": "Cancelled", "cancelled_finally": "CancelledRunFinally"}.get(
        mode, "StoppedRunFinally"
    )
    if mode == "cancelled":
        return None
    if mode == "stopped_finally":
        return max([cut, *(tr.final.end or cut for tr in kept)]) + 1
    return cut + 1


def _cut_skip_reason(mode: str) -> str:
    return {
        "pr_timeout": "PipelineRun timeout has been reached",
        "cancelled": "PipelineRun was stopping",
        "cancelled_finally": "PipelineRun was gracefully cancelled",
        "stopped_finally": "PipelineRun was gracefully stopped",
    }[mode]


def _settle(sim: PipelineRunSim, name: str, mode: str) -> None:
    """The PipelineRun's own condition and completion time, once its TaskRuns are known."""
    runs = sim.task_runs
    ends = [tr.final.end for tr in runs if tr.final.end is not None]
    failed = [
        tr for tr in runs if tr.failed and tr.member_of == "tasks" and tr.final.reason != "TaskRunCancelled"
    ]
    cancelled = sum(1 for tr in runs if tr.final.reason == "TaskRunCancelled")
    done = len(runs) - cancelled
    skipped = len(sim.skipped)
    if mode in CUT_MODES:
        sim.end = max([sim.end or 0, *ends]) + (0 if mode == "pr_timeout" else 1)
        sim.status = "False"
        sim.reason = {
            "pr_timeout": "PipelineRunTimeout",
            "cancelled": "Cancelled",
            "cancelled_finally": "CancelledRunFinally",
            "stopped_finally": "StoppedRunFinally",
        }[mode]
        if mode == "pr_timeout":
            sim.message = f'PipelineRun "{name}" failed to finish within "{sim.pipeline_timeout}"'
        else:
            verb = "stopped" if mode == "stopped_finally" else "cancelled"
            sim.message = f'PipelineRun "{name}" was {verb}'
        return
    sim.end = max(ends, default=sim.start or sim.created) + 1
    counts = f"Tasks Completed: {done} (Failed: {len(failed)}, Cancelled {cancelled}), Skipped: {skipped}"
    if failed:
        sim.status, sim.reason, sim.message = "False", "Failed", counts
        sim.flaky_failed = all(a.failed_by == "flaky" for tr in failed for a in tr.attempts if a.failed_by)
        sim.flaky_failed = sim.flaky_failed and all(tr.task.flaky_rate for tr in failed)
    else:
        sim.status = "True"
        sim.reason = "Completed" if any(s.when for s in sim.skipped) else "Succeeded"
        sim.message = counts


def clip_task_run(tr: TaskRunSim, now: int) -> None:
    """What the TaskRun looked like at `now`: later attempts gone, the current one still running or pending."""
    if tr.final.end is not None and tr.final.end <= now:
        return
    tr.attempts = [a for a in tr.attempts if a.start <= now]
    if tr.attempts:
        cut_attempt(tr.final, now, "running")
    else:
        tr.attempts = [Attempt("", -1, None, [], "Unknown", "Pending", "Pending")]


def clip_pipeline_run(ctx: SimContext, sim: PipelineRunSim) -> None:
    """A run whose end lies after the end of history is still running (or pending) in the snapshot."""
    now = ctx.now
    if sim.end is None or sim.end <= now:
        return
    sim.spec_status = None
    sim.end = None
    sim.skipped = [s for s in sim.skipped if s.when]
    if sim.start is not None and sim.start > now:
        sim.start, sim.task_runs = None, []
        sim.status, sim.reason, sim.message = "Unknown", "", ""
        return
    sim.task_runs = [tr for tr in sim.task_runs if tr.created <= now]
    for tr in sim.task_runs:
        clip_task_run(tr, now)
    done = sum(1 for tr in sim.task_runs if tr.final.status != "Unknown" and tr.attempts)
    incomplete = len(sim.pipeline.tasks) - done - len(sim.skipped)
    sim.status, sim.reason = "Unknown", "Running"
    sim.message = f"Tasks Completed: {done} (Failed: 0, Cancelled 0), Incomplete: {incomplete}, Skipped: {len(sim.skipped)}"


def simulate_standalone(
    ctx: SimContext, task: TaskDef, name: str, namespace: str, created: int, mode: str
) -> TaskRunSim:
    """A TaskRun created directly (CronJob, kubectl, Triggers), failing as `mode` says ("success" for none)."""
    rng = ctx.rng
    fail_mode = None if mode in ("success", "cancelled") else mode
    tr = simulate_task_run(ctx, task, name, namespace, created, factor=1.0, member_of="", fail_mode=fail_mode)
    if mode == "cancelled":
        attempt = tr.final
        assert attempt.end is not None
        cut = attempt.start + max(1, int((attempt.end - attempt.start) * rng.uniform(0.2, 0.8)))
        cut_attempt(attempt, cut, "TaskRunCancelled")
        attempt.status, attempt.reason = "False", "TaskRunCancelled"
        attempt.message = f'TaskRun "{name}" was cancelled. '
    clip_task_run(tr, ctx.now)
    return tr
