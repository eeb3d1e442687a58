"""The ground truth, computed from the emitted objects with bounded memory.

Counters are small (per kind, status, reason, pipeline, task). Groups of runs of one commit live only while the
generator may still add runs to them (it re-runs a commit within hours; groups are closed after `GROUP_TTL_S`).
Lists that grow with the history (uids of flaky failures, artifacts, consumers) are spooled to temporary files and
copied into `ground_truth.json` at the end, so memory stays flat however long the history is.

ground_truth.json schema (all uids are `metadata.uid`; times RFC 3339 UTC; cluster is always "default"):

    schema_version        1
    parameters            {seed, days, pipelines, runs_per_day, namespaces, v1beta1_share, end_date,
                           history_start, history_end, cluster, flaky_truth_matches_window_days}
    counts                {objects, pipeline_runs, task_runs, standalone_task_runs, child_task_runs,
                           by_kind_api_version {kind: {apiVersion: n}},
                           by_status {kind: {status: n}}        status as data-model.md (succeeded, failed,
                                                                 timed_out, cancelled, running, pending)
                           by_reason {kind: {reason: n}}        Succeeded-condition reason, "" when none
                           failure_causes {cause: n}            rows of marts.fct_failures by cause
                           failure_causes_by_kind {PipelineRun|TaskRun: {cause: n}}
                           names_reused n}
    newest_completed_at   newest status.completionTime of any run
    pipelines             [{namespace, pipeline_name, runs, succeeded, failed, timed_out, cancelled, running,
                            pending, counted_runs, failures, flaky_failures}]
                            counted_runs/failures/flaky_failures as marts.fct_flaky_pipelines (whole history)
    flaky_tasks           [{namespace, pipeline_name, pipeline_task, rate (injected, null if none), retries,
                            runs, failures, flaky_failures: [task run uids with same_commit evidence],
                            retry_passes: [succeeded task run uids with failed attempts]}]
    flaky_evidence        [{namespace, pipeline_name, pipeline_task, failed_uid, passing_uid, commit_sha, kind}]
                            exactly the rows of marts.fct_flaky_evidence (pipeline_task null at pipeline level)
    regressions           [{namespace, pipeline_name, from_day, factor}]
    failing_streaks       [{namespace, pipeline_name, run_uids, length, recovered_by}]
    reruns                [{namespace, original_name, original_uid, original_status, rerun_uid, rerun_name,
                            rerun_status}]
    artifacts             [{digest, uri, kind (image|artifact), producer_run_uid, namespace, pipeline_name,
                            repo_url, commit_sha, produced_at, signed}]  only from succeeded producers
    artifacts_by_commit   [{repo_url, commit_sha, digests, signed (every producer signed), producer_run_uids}]
    downstream            {digest: [uids of PipelineRuns whose params carry the digest]}
    reused_names          [{namespace, name, uids}]  run names emitted more than once (earlier run deleted)

Flaky figures cover the whole history: they equal the marts' when `flaky_window_days` (dbt var, default 30) is at
least `parameters.flaky_truth_matches_window_days` (the history's length in days).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from etl.synth import derive
from etl.synth.clock import epoch
from etl.synth.derive import FAILING, Obj

GROUP_TTL_S = 2 * 86_400
_STATUSES = ("succeeded", "failed", "timed_out", "cancelled", "running", "pending")


@dataclass
class _TaskGroup:
    fails: list[str] = field(default_factory=list)
    first_pass: tuple[str, str] | None = None


@dataclass
class _CommitGroup:
    namespace: str
    pipeline_name: str
    commit: str
    last_touch: int
    fails: list[tuple[str, str]] = field(default_factory=list)  # (uid, order key time)
    first_pass: tuple[str, str] | None = None  # (order key time, uid)
    rerun_fails: set[str] = field(default_factory=set)
    tasks: dict[str, _TaskGroup] = field(default_factory=dict)


@dataclass
class _RecentRun:
    uid: str
    status: str
    commit: str | None
    group_key: tuple[str, str, str, str] | None
    created: int
    counted_flaky: bool = False


@dataclass
class _PipelineCounts:
    by_status: Counter[str] = field(default_factory=Counter)
    counted_runs: int = 0
    failures: int = 0
    flaky_failures: int = 0


@dataclass
class _TaskCounts:
    runs: int = 0
    failures: int = 0
    rate: float | None = None
    retries: int = 0


class Spool:
    """Append-only temporary files of JSON lines, one per section or key."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=".synth-truth-", dir=folder))
        self._handles: dict[str, IO[str]] = {}

    def write(self, section: str, item: Any) -> None:
        handle = self._handles.get(section)
        if handle is None:
            if len(self._handles) > 200:
                self.close()
            handle = self._handles[section] = (self.folder / f"{section}.jsonl").open("a")
        handle.write(json.dumps(item, separators=(",", ":")) + "\n")

    def lines(self, section: str) -> list[str] | Any:
        self.close()
        path = self.folder / f"{section}.jsonl"
        if not path.exists():
            return iter(())
        return (line.rstrip("\n") for line in path.open())

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class GroundTruth:
    """Observes every emitted run and writes ground_truth.json at the end."""

    def __init__(self, folder: Path, parameters: dict[str, Any]) -> None:
        self.parameters = parameters
        self.spool = Spool(folder)
        self.by_kind_api: dict[str, Counter[str]] = {"PipelineRun": Counter(), "TaskRun": Counter()}
        self.by_status: dict[str, Counter[str]] = {"PipelineRun": Counter(), "TaskRun": Counter()}
        self.by_reason: dict[str, Counter[str]] = {"PipelineRun": Counter(), "TaskRun": Counter()}
        self.causes: Counter[str] = Counter()
        self.causes_by_kind: dict[str, Counter[str]] = {"PipelineRun": Counter(), "TaskRun": Counter()}
        self.objects = 0
        self.standalone = 0
        self.names_reused = 0
        self.newest_completed = ""
        self.pipelines: dict[tuple[str, str], _PipelineCounts] = {}
        self.tasks: dict[tuple[str, str, str], _TaskCounts] = {}
        self.groups: OrderedDict[tuple[str, str, str, str], _CommitGroup] = OrderedDict()
        self.recent: OrderedDict[tuple[str, str], _RecentRun] = OrderedDict()
        self.regressions: list[dict[str, Any]] = []
        self.streaks: list[dict[str, Any]] = []

    # -- injected facts the generator declares up front ---------------------------------------------------------

    def declare_flaky_task(self, namespace: str, pipeline: str, task: str, rate: float, retries: int) -> None:
        counts = self.tasks.setdefault((namespace, pipeline, task), _TaskCounts())
        counts.rate, counts.retries = rate, retries

    def declare_regression(self, namespace: str, pipeline: str, from_day: str, factor: float) -> None:
        self.regressions.append(
            {"namespace": namespace, "pipeline_name": pipeline, "from_day": from_day, "factor": factor}
        )

    def declare_streak(self, streak: dict[str, Any]) -> None:
        self.streaks.append(streak)

    def artifact(self, item: dict[str, Any]) -> None:
        self.spool.write("artifacts", item)

    def commit_artifacts(self, item: dict[str, Any]) -> None:
        self.spool.write("artifacts_by_commit", item)

    def consumers(self, digest: str, uids: list[str]) -> None:
        self.spool.write("downstream", [digest, uids])

    def reused_name(self, namespace: str, name: str, uids: list[str]) -> None:
        self.names_reused += 1
        self.spool.write("reused_names", {"namespace": namespace, "name": name, "uids": uids})

    # -- observation of emitted objects -------------------------------------------------------------------------

    def _count(self, obj: Obj) -> str:
        kind = obj["kind"]
        status = derive.run_status(obj)
        self.objects += 1
        self.by_kind_api[kind][obj["apiVersion"]] += 1
        self.by_status[kind][status] += 1
        self.by_reason[kind][derive.run_reason(obj)] += 1
        completed = obj["status"].get("completionTime")
        if completed and completed > self.newest_completed:
            self.newest_completed = completed
        return status

    def observe_standalone(self, tr: Obj) -> None:
        self.standalone += 1
        if self._count(tr) in FAILING:
            cause = derive.failure_cause(tr)
            self.causes[cause] += 1
            self.causes_by_kind["TaskRun"][cause] += 1

    def observe_pipeline_run(self, pr: Obj, children: list[Obj], rerun_of: str | None) -> None:
        status = self._count(pr)
        child_statuses = [self._count(c) for c in children]
        md = pr["metadata"]
        namespace, name = md["namespace"], derive.pipeline_name(pr)
        created = epoch(md["creationTimestamp"])
        self._evict(created)
        counts = self.pipelines.setdefault((namespace, name), _PipelineCounts())
        counts.by_status[status] += 1
        if status in FAILING:
            cause, _ = derive.pipeline_run_cause(pr, children)
            self.causes[cause] += 1
            self.causes_by_kind["PipelineRun"][cause] += 1
        repo, commit = derive.code_source(pr, children)
        group_key = (namespace, name, repo or "", commit) if commit else None
        counted = status in ("succeeded", *FAILING)
        if counted:
            counts.counted_runs += 1
            counts.failures += status in FAILING
        if group_key is not None:
            group = self.groups.get(group_key)
            if group is None:
                group = self.groups[group_key] = _CommitGroup(namespace, name, commit or "", created)
            group.last_touch = created
            self.groups.move_to_end(group_key)
            if counted:
                self._add_run_to_group(group, pr, status)
            for child, child_status in zip(children, child_statuses, strict=True):
                self._add_task_to_group(group, child, child_status)
        self._count_tasks(namespace, name, children, child_statuses)
        if rerun_of is not None:
            self._observe_rerun(pr, status, namespace, name, rerun_of, commit)
        self.recent[(namespace, md["name"])] = _RecentRun(md["uid"], status, commit, group_key, created)
        self.recent.move_to_end((namespace, md["name"]))

    def _add_run_to_group(self, group: _CommitGroup, pr: Obj, status: str) -> None:
        key_time, uid = derive.order_key(pr)
        if status == "succeeded":
            if group.first_pass is None or (key_time, uid) < group.first_pass:
                group.first_pass = (key_time, uid)
        else:
            group.fails.append((uid, key_time))

    def _add_task_to_group(self, group: _CommitGroup, tr: Obj, status: str) -> None:
        task = (tr["metadata"].get("labels") or {}).get("tekton.dev/pipelineTask")
        if not task or status not in ("succeeded", *FAILING):
            return
        entry = group.tasks.setdefault(task, _TaskGroup())
        if status == "succeeded":
            key = derive.order_key(tr)
            if entry.first_pass is None or key < entry.first_pass:
                entry.first_pass = key
        else:
            entry.fails.append(tr["metadata"]["uid"])

    def _count_tasks(self, namespace: str, pipeline: str, children: list[Obj], statuses: list[str]) -> None:
        for child, status in zip(children, statuses, strict=True):
            if status not in ("succeeded", *FAILING):
                continue
            task = child["metadata"]["labels"].get("tekton.dev/pipelineTask", "")
            counts = self.tasks.setdefault((namespace, pipeline, task), _TaskCounts())
            counts.runs += 1
            counts.failures += status in FAILING
            if status == "succeeded" and derive.failed_attempts(child) >= 1:
                uid = child["metadata"]["uid"]
                self.spool.write(f"task-retry-{_key_id(namespace, pipeline, task)}", uid)
                self._evidence(namespace, pipeline, task, uid, uid, None, "retry_pass")

    def _observe_rerun(
        self, pr: Obj, status: str, namespace: str, pipeline: str, rerun_of: str, commit: str | None
    ) -> None:
        original = self.recent.get((namespace, rerun_of))
        md = pr["metadata"]
        self.spool.write(
            "reruns",
            {
                "namespace": namespace,
                "original_name": rerun_of,
                "original_uid": original.uid if original else None,
                "original_status": original.status if original else None,
                "rerun_uid": md["uid"],
                "rerun_name": md["name"],
                "rerun_status": status,
            },
        )
        if original is None or status != "succeeded" or original.status not in FAILING:
            return
        if original.commit and commit and original.commit != commit:
            return
        self._evidence(namespace, pipeline, None, original.uid, md["uid"], original.commit, "rerun_pass")
        group = self.groups.get(original.group_key) if original.group_key else None
        if group is not None:
            group.rerun_fails.add(original.uid)
        elif not original.counted_flaky:
            original.counted_flaky = True
            self.pipelines[(namespace, pipeline)].flaky_failures += 1

    def _evidence(
        self,
        namespace: str,
        pipeline: str,
        task: str | None,
        failed: str,
        passing: str,
        commit: str | None,
        kind: str,
    ) -> None:
        self.spool.write(
            "flaky_evidence",
            {
                "namespace": namespace,
                "pipeline_name": pipeline,
                "pipeline_task": task,
                "failed_uid": failed,
                "passing_uid": passing,
                "commit_sha": commit,
                "kind": kind,
            },
        )

    def _evict(self, now: int) -> None:
        while self.groups:
            _, group = next(iter(self.groups.items()))
            if group.last_touch >= now - GROUP_TTL_S:
                break
            self.groups.popitem(last=False)
            self._close_group(group)
        while self.recent:
            _, run = next(iter(self.recent.items()))
            if run.created >= now - GROUP_TTL_S:
                break
            self.recent.popitem(last=False)

    def _close_group(self, group: _CommitGroup) -> None:
        flaky = set(group.rerun_fails)
        if group.first_pass is not None:
            for uid, _ in group.fails:
                self._evidence(
                    group.namespace,
                    group.pipeline_name,
                    None,
                    uid,
                    group.first_pass[1],
                    group.commit,
                    "same_commit",
                )
                flaky.add(uid)
        self.pipelines[(group.namespace, group.pipeline_name)].flaky_failures += len(flaky)
        for task, entry in group.tasks.items():
            if entry.first_pass is None or not entry.fails:
                continue
            key_id = _key_id(group.namespace, group.pipeline_name, task)
            for uid in entry.fails:
                self.spool.write(f"task-flaky-{key_id}", uid)
                self._evidence(
                    group.namespace,
                    group.pipeline_name,
                    task,
                    uid,
                    entry.first_pass[1],
                    group.commit,
                    "same_commit",
                )

    # -- output -------------------------------------------------------------------------------------------------

    def write(self, path: Path) -> None:
        for group in list(self.groups.values()):
            self._close_group(group)
        self.groups.clear()
        tmp = path.with_suffix(".json.tmp")
        with tmp.open("w") as out:
            out.write("{\n")
            self._field(out, "schema_version", 1)
            self._field(out, "parameters", self.parameters)
            self._field(out, "counts", self.counts())
            self._field(out, "newest_completed_at", self.newest_completed or None)
            self._field(out, "pipelines", self._pipeline_rows())
            self._field(out, "regressions", self.regressions)
            self._field(out, "failing_streaks", self.streaks)
            out.write('"flaky_tasks": [\n')
            self._flaky_tasks(out)
            out.write("],\n")
            for section in ("flaky_evidence", "reruns", "artifacts", "artifacts_by_commit", "reused_names"):
                self._list(out, section)
            out.write('"downstream": {')
            first = True
            for line in self.spool.lines("downstream"):
                digest, uids = json.loads(line)
                out.write(("\n" if first else ",\n") + json.dumps(digest) + ": " + json.dumps(uids))
                first = False
            out.write("\n}\n}\n")
        tmp.replace(path)
        self.spool.remove()

    @staticmethod
    def _field(out: IO[str], name: str, value: Any) -> None:
        out.write(f"{json.dumps(name)}: {json.dumps(value, indent=1, sort_keys=True)},\n")

    def _list(self, out: IO[str], section: str) -> None:
        out.write(f'"{section}": [')
        first = True
        for line in self.spool.lines(section):
            out.write(("\n" if first else ",\n") + line)
            first = False
        out.write("\n],\n")

    def counts(self) -> dict[str, Any]:
        pipeline_runs = sum(self.by_kind_api["PipelineRun"].values())
        task_runs = sum(self.by_kind_api["TaskRun"].values())
        return {
            "objects": self.objects,
            "pipeline_runs": pipeline_runs,
            "task_runs": task_runs,
            "standalone_task_runs": self.standalone,
            "child_task_runs": task_runs - self.standalone,
            "by_kind_api_version": {k: dict(sorted(v.items())) for k, v in self.by_kind_api.items()},
            "by_status": {k: dict(sorted(v.items())) for k, v in self.by_status.items()},
            "by_reason": {k: dict(sorted(v.items())) for k, v in self.by_reason.items()},
            "failure_causes": dict(sorted(self.causes.items())),
            "failure_causes_by_kind": {k: dict(sorted(v.items())) for k, v in self.causes_by_kind.items()},
            "names_reused": self.names_reused,
        }

    def _pipeline_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (namespace, name), counts in sorted(self.pipelines.items()):
            row: dict[str, Any] = {"namespace": namespace, "pipeline_name": name}
            row["runs"] = sum(counts.by_status.values())
            row.update({s: counts.by_status.get(s, 0) for s in _STATUSES})
            row.update(
                counted_runs=counts.counted_runs,
                failures=counts.failures,
                flaky_failures=counts.flaky_failures,
            )
            rows.append(row)
        return rows

    def _flaky_tasks(self, out: IO[str]) -> None:
        first = True
        for (namespace, pipeline, task), counts in sorted(self.tasks.items()):
            key_id = _key_id(namespace, pipeline, task)
            flaky = [json.loads(x) for x in self.spool.lines(f"task-flaky-{key_id}")]
            retry = [json.loads(x) for x in self.spool.lines(f"task-retry-{key_id}")]
            if counts.rate is None and not flaky and not retry:
                continue
            row = {
                "namespace": namespace,
                "pipeline_name": pipeline,
                "pipeline_task": task,
                "rate": counts.rate,
                "retries": counts.retries,
                "runs": counts.runs,
                "failures": counts.failures,
                "flaky_failures": flaky,
                "retry_passes": retry,
            }
            out.write(("" if first else ",\n") + json.dumps(row))
            first = False
        out.write("\n")


def _key_id(*parts: str) -> str:
    import hashlib

    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:16]
