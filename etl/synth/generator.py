"""The event loop that turns an organisation into a streamed, creation-ordered Tekton history.

Two heaps keep memory bounded: pending *events* (pushes, re-triggers, Dashboard reruns, downstream scans and
deploys scheduled for later) and rendered *objects* waiting for their turn in creation order. An object is written as
soon as no later event can create anything older, so both heaps only hold what is in flight at one moment, never
the history. Per-pipeline state is a handful of fields and short deques.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from etl.synth import conventions
from etl.synth.clock import day_start, rfc3339, rfc3339_micro
from etl.synth.conventions import Commit
from etl.synth.model import (
    STREAK_LENGTH,
    Organisation,
    PipelineDef,
    StandaloneTaskDef,
    TaskDef,
    build_organisation,
)
from etl.synth.render import V1, V1BETA1, RunMeta, expand_raw, render_pipeline_run, render_task_run
from etl.synth.simulate import (
    CUT_MODES,
    PIPELINE_FAILURE_MODES,
    STANDALONE_FAILURE_MODES,
    VALIDATION_REASONS,
    Attempt,
    PipelineRunSim,
    SimContext,
    TaskRunSim,
    simulate_pipeline_run,
    simulate_standalone,
)
from etl.synth.truth import GroundTruth

DAY = 86_400
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Hour-of-day weights (UTC): a working-day curve with a night trough.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 10, 13, 14, 13, 10, 12, 14, 14, 13, 11, 8, 6, 4, 3, 2, 1)
WEEKDAY_FACTOR = (1.2, 1.2, 1.2, 1.2, 1.15, 0.4, 0.35)
# Failure modes in turn (validation three times: it has several reasons of its own to cycle through).
PR_FAILURE_ROTATION = (
    "step_error", "validation", "oom", "image_pull", "couldnt_get_pipeline", "task_timeout",
    "validation", "quota", "pod_creation", "couldnt_get_task", "evicted", "validation",
)  # fmt: skip
FAILURE_RATE = 0.08
CUT_RATE = 0.035
STANDALONE_FAILURE_RATE = 0.15
NAME_REUSE_RATE = 0.02
LINK_VARIANT_RATE = 0.04
QUIET_TAIL_S = (
    3 * 3600
)  # no failure or cancel injected this close to the end: runs there may still be running
AUTHORS = (
    ("Ana Lima", "ana.lima@acme.dev"),
    ("Bram de Vries", "bram@acme.dev"),
    ("Chen Wei", "chen.wei@acme.dev"),
    ("Dana Okafor", "dana.okafor@acme.dev"),
    ("Eli Cohen", "eli@acme.dev"),
    ("Fatima Zahra", "fatima.zahra@acme.dev"),
)
MESSAGES = (
    "Fix flaky retry in payment client",
    "Bump base image to ubi9 9.4",
    "Add pagination to list endpoint",
    "Refactor config loading",
    "Update dependencies",
    "Handle empty cart on checkout",
    "Improve logging around timeouts",
)


@dataclass(frozen=True)
class GenerateOptions:
    days: int = 30
    pipelines: int = 40
    runs_per_day: float = 3.0
    seed: int = 1
    end_date: date = date(2026, 11, 1)
    namespaces: int = 4
    v1beta1_share: float = 0.2
    fmt: str = "both"


@dataclass
class PipelineState:
    commits: deque[Commit] = field(default_factory=lambda: deque(maxlen=3))
    old_names: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=12))
    streak_left: int = -1
    streak_runs: list[str] = field(default_factory=list)


@dataclass
class Event:
    kind: str  # push | retrigger | rerun | downstream | standalone | adhoc | pending
    pipeline: PipelineDef | None = None
    commit: Commit | None = None
    mode: str | None = None
    retrigger_round: int = 0
    original: RunMeta | None = None
    original_params: list[tuple[str, object]] | None = None
    digests: list[tuple[str, str]] = field(default_factory=list)
    standalone: StandaloneTaskDef | None = None
    namespace: str = ""
    fail_task: str | None = None


@dataclass
class _Pending:
    """An artifact waiting for the downstream runs scheduled to consume it."""

    consumers: list[str]
    outstanding: int


class OrderedWriter:
    """Writes objects (and their Results records) in creation order using a bounded heap."""

    def __init__(self, objects: IO[str] | None, records: IO[str] | None) -> None:
        self.objects_out, self.records_out = objects, records
        self.heap: list[tuple[int, int, str, str]] = []
        self.seq = itertools.count()
        self.encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
        self.written = 0

    def add(self, created: int, obj: dict[str, Any], record_head: str) -> None:
        heapq.heappush(self.heap, (created, next(self.seq), expand_raw(self.encode(obj)), record_head))

    def flush(self, before: int | None = None) -> None:
        heap = self.heap
        while heap and (before is None or heap[0][0] < before):
            _, _, text, head = heapq.heappop(heap)
            if self.objects_out is not None:
                self.objects_out.write(text + "\n")
            if self.records_out is not None:
                self.records_out.write(head + text + "}\n")
            self.written += 1


class HistoryGenerator:
    def __init__(self, options: GenerateOptions, out_dir: Path, writer: OrderedWriter) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.first_day = options.end_date - timedelta(days=options.days)
        self.start = day_start(self.first_day)
        self.now = day_start(options.end_date)
        self.ctx = SimContext(self.rng, self.now)
        self.org: Organisation = build_organisation(
            self.rng,
            pipelines=options.pipelines,
            namespaces=options.namespaces,
            days=options.days,
            start_day=self.start // DAY,
        )
        self.writer = writer
        self.events: list[tuple[int, int, Event]] = []
        self.seq = itertools.count()
        self.states: dict[int, PipelineState] = {id(p): PipelineState() for p in self.org.pipelines}
        self.resource_version = 10_000
        self.failure_turn = itertools.count()
        self.cut_turn = itertools.count()
        self.standalone_turn = itertools.count()
        self.validation_turn = itertools.count()
        self.finally_cut_turn = itertools.count()
        self.pending_artifacts: dict[str, _Pending] = {}
        self.adhoc = {ns: _adhoc_pipeline(ns) for ns in self.org.namespaces}
        self.truth = GroundTruth(out_dir, self._parameters())
        self._declare_truths()

    # -- setup ----------------------------------------------------------------------------------------------------

    def _parameters(self) -> dict[str, Any]:
        o = self.options
        return {
            "seed": o.seed,
            "days": o.days,
            "pipelines": o.pipelines,
            "runs_per_day": o.runs_per_day,
            "namespaces": len(self.org.namespaces),
            "v1beta1_share": o.v1beta1_share,
            "end_date": o.end_date.isoformat(),
            "history_start": rfc3339(self.start),
            "history_end": rfc3339(self.now),
            "cluster": "default",
            # Flaky figures cover the whole history, which equals the marts' window (dbt var flaky_window_days,
            # default 30, counted back from the newest completion) only when the history is no longer than it.
            "flaky_truth_matches_window_days": o.days,
        }

    def _declare_truths(self) -> None:
        for p in self.org.pipelines:
            if p.flaky_task:
                task = next(t for t in p.tasks if t.name == p.flaky_task)
                self.truth.declare_flaky_task(p.namespace, p.name, task.name, task.flaky_rate, task.retries)
            if p.regression_from_day is not None:
                day = date.fromordinal(date(1970, 1, 1).toordinal() + p.regression_from_day)
                self.truth.declare_regression(p.namespace, p.name, day.isoformat(), p.regression_factor)

    def schedule(self, at: int, event: Event) -> None:
        if at < self.now:
            heapq.heappush(self.events, (at, next(self.seq), event))
        elif event.kind == "downstream":
            self._consumer_done(event)

    # -- main loop --------------------------------------------------------------------------------------------------

    def run(self) -> None:
        for offset in range(self.options.days):
            day = self.first_day + timedelta(days=offset)
            self._schedule_day(day)
            self._drain(until=day_start(day) + DAY)
        self._drain(until=None)
        self.writer.flush()
        for digest in list(self.pending_artifacts):
            self._flush_consumers(digest)
        for p in self.org.pipelines:
            state = self.states[id(p)]
            if state.streak_runs and state.streak_left > 0:
                self._close_streak(p, state, None)

    def _drain(self, until: int | None) -> None:
        while self.events and (until is None or self.events[0][0] < until):
            at, _, event = heapq.heappop(self.events)
            self.writer.flush(before=at)
            self._handle(at, event)

    def _schedule_day(self, day: date) -> None:
        base = day_start(day)
        factor = WEEKDAY_FACTOR[day.weekday()]
        for pipeline in self.org.pipelines:
            if not pipeline.is_event_driven:
                continue
            expected = self.options.runs_per_day * factor
            count = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
            for _ in range(count):
                self.schedule(base + self._time_of_day(), Event("push", pipeline))
        for standalone in self.org.standalone:
            self.schedule(
                base + 3600 * (2 + int(standalone.task.median_s) % 5) + self.rng.randint(0, 900),
                Event("standalone", standalone=standalone, namespace=standalone.namespace),
            )
        for namespace in self.org.namespaces:
            if self.rng.random() < 0.3:
                self.schedule(base + self._time_of_day(), Event("adhoc", namespace=namespace))
        if day == self.options.end_date - timedelta(days=1):
            self._schedule_tail()

    def _time_of_day(self) -> int:
        hour = self.rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        return hour * 3600 + self.rng.randint(0, 3599)

    def _schedule_tail(self) -> None:
        """A few runs so close to the end of history that they are still running or pending in the snapshot."""
        driven = [p for p in self.org.pipelines if p.is_event_driven][:3]
        for n, pipeline in enumerate(driven):
            self.schedule(self.now - 100 - 60 * n, Event("push", pipeline, mode="success"))
        if driven:
            self.schedule(self.now - 40, Event("pending", driven[0]))
        if self.org.standalone:
            self.schedule(
                self.now - 1, Event("standalone", standalone=self.org.standalone[0], mode="pending")
            )

    def _handle(self, at: int, event: Event) -> None:
        if event.kind in ("push", "retrigger", "rerun", "pending"):
            self._pipeline_event(at, event)
        elif event.kind == "downstream":
            self._downstream_event(at, event)
        elif event.kind == "standalone":
            self._standalone_event(at, event)
        elif event.kind == "adhoc":
            self._adhoc_event(at, event)

    # -- outcome choice -------------------------------------------------------------------------------------------

    def _choose_mode(self, pipeline: PipelineDef, at: int) -> str:
        # The streak pipeline fails only in its streak, so the streak's edges (regressed, recovered) are exact.
        if at > self.now - QUIET_TAIL_S or pipeline.streak_from_day is not None:
            return "success"
        r = self.rng.random()
        if r < FAILURE_RATE:
            mode = PR_FAILURE_ROTATION[next(self.failure_turn) % len(PR_FAILURE_ROTATION)]
            if mode == "validation":
                mode += ":" + VALIDATION_REASONS[next(self.validation_turn) % len(VALIDATION_REASONS)]
            return mode
        if r < FAILURE_RATE + CUT_RATE:
            if not pipeline.finally_tasks:
                return ("cancelled", "pr_timeout")[next(self.cut_turn) % 2]
            return CUT_MODES[next(self.finally_cut_turn) % len(CUT_MODES)]
        return "success"

    # -- pipeline runs ----------------------------------------------------------------------------------------------

    def _new_commit(self, pipeline: PipelineDef, at: int) -> Commit:
        rng = self.rng
        author, email = AUTHORS[rng.randrange(len(AUTHORS))]
        event_type = "pull_request" if rng.random() < (0.3 if pipeline.kind == "build" else 0.6) else "push"
        return Commit(
            f"{rng.getrandbits(160):040x}",
            author,
            email,
            MESSAGES[rng.randrange(len(MESSAGES))],
            at - rng.randint(30, 7200),
            event_type,
        )

    def _pipeline_event(self, at: int, event: Event) -> None:
        pipeline = event.pipeline
        assert pipeline is not None
        state = self.states[id(pipeline)]
        commit = event.commit
        if commit is None and pipeline.repo is not None:
            commit = self._new_commit(pipeline, at)
            state.commits.append(commit)
        # A re-run of the same commit after a flaky failure only meets the flaky task again: an unrelated failure
        # there would pair with the first run's passing tasks and look like flakiness nobody injected.
        follow_up = event.kind in ("retrigger", "rerun")
        mode = (
            event.mode
            or self._streak_mode(pipeline, state, at)
            or ("success" if follow_up else self._choose_mode(pipeline, at))
        )
        api = V1BETA1 if self.rng.random() < self.options.v1beta1_share else V1
        meta, rerun_of = self._pipeline_meta(pipeline, state, at, api, event, commit)
        if event.kind == "pending":
            self._emit_pending(pipeline, meta, at)
            return
        factor = pipeline.regression_factor if self._regressed(pipeline, at) else 1.0
        sim = simulate_pipeline_run(
            self.ctx,
            pipeline,
            meta.name,
            at,
            mode=mode,
            event_type=commit.event_type if commit else "push",
            factor=factor,
            flaky=event.kind != "rerun" or event.mode is None,
            fail_task=event.fail_task,
        )
        artifacts = self._artifacts(pipeline, commit, meta) if pipeline.kind == "build" else []
        pr, children = self._emit_pipeline_run(sim, meta, commit, artifacts, event)
        self.truth.observe_pipeline_run(pr, children, rerun_of)
        self._after_run(at, pipeline, state, sim, meta, pr, commit, artifacts, event)

    def _regressed(self, pipeline: PipelineDef, at: int) -> bool:
        return pipeline.regression_from_day is not None and at >= pipeline.regression_from_day * DAY

    def _streak_mode(self, pipeline: PipelineDef, state: PipelineState, at: int) -> str | None:
        if pipeline.streak_from_day is None or at > self.now - QUIET_TAIL_S:
            return None
        if state.streak_left == -1 and at >= pipeline.streak_from_day * DAY:
            state.streak_left = STREAK_LENGTH
        if state.streak_left > 0:
            return "step_error"
        if state.streak_left == 0:
            return "success"
        return None

    def _pipeline_meta(
        self,
        pipeline: PipelineDef,
        state: PipelineState,
        at: int,
        api: str,
        event: Event,
        commit: Commit | None,
    ) -> tuple[RunMeta, str | None]:
        rng = self.rng
        rerun_of = None
        if event.kind == "rerun" and event.original is not None:
            rerun_of = event.original.name
            generate_name = f"{rerun_of}-r-"
        else:
            generate_name = (
                f"{pipeline.name}-"
                if pipeline.ref_style != "pac"
                else f"{pipeline.name}-on-{(commit.event_type if commit else 'push').replace('_', '-')}-"
            )
        reused = self._reused_name(state, at) if event.kind == "push" else None
        name = reused[0] if reused else generate_name + "".join(rng.choices(NAME_ALPHABET, k=5))
        uid = self.ctx.uid()
        if reused:
            self.truth.reused_name(pipeline.namespace, name, [reused[1], uid])
        meta = RunMeta(
            name=name, uid=uid, api_version=api, namespace=pipeline.namespace, generate_name=generate_name
        )
        meta.service_account = pipeline.service_account
        meta.labels, meta.annotations = self._run_labels(pipeline, meta, commit, event)
        meta.params = (
            event.original_params
            if event.original_params is not None
            else self._run_params(pipeline, commit, event)
        )
        meta.pipeline_ref = conventions.pipeline_ref(pipeline)
        meta.embed_spec = rng.random() < 0.3
        meta.managed_fields = rng.random() < 0.1
        self.resource_version += rng.randint(1, 40)
        meta.resource_version = str(self.resource_version)
        return meta, rerun_of

    def _reused_name(self, state: PipelineState, at: int) -> tuple[str, str] | None:
        """Now and then reuse the name of a run deleted days ago: names repeat, uids never do."""
        if not state.old_names or self.rng.random() >= NAME_REUSE_RATE:
            return None
        created, name, old_uid = state.old_names[0]
        if created > at - 2 * DAY:
            return None
        state.old_names.popleft()
        return name, old_uid

    def _run_labels(
        self, pipeline: PipelineDef, meta: RunMeta, commit: Commit | None, event: Event
    ) -> tuple[dict[str, str], dict[str, str]]:
        if event.kind == "rerun" and event.original is not None:
            labels = {k: v for k, v in event.original.labels.items() if k != "tekton.dev/pipeline"}
            annotations = {
                k: v
                for k, v in event.original.annotations.items()
                if not k.startswith(("chains.", "results."))
            }
            labels["dashboard.tekton.dev/rerunOf"] = event.original.name
        else:
            labels, annotations = {}, {}
            if pipeline.ref_style == "pac" and pipeline.repo is not None and commit is not None:
                labels, annotations = conventions.pac_labels(pipeline, commit, event.kind == "retrigger")
            elif pipeline.ref_style != "inline":
                labels = {
                    "triggers.tekton.dev/eventlistener": "image-events"
                    if pipeline.kind in ("scan", "deploy")
                    else f"{pipeline.repo.host.split('.')[0] if pipeline.repo else 'git'}-listener",
                    "triggers.tekton.dev/trigger": f"{pipeline.name}-{commit.event_type.replace('_', '-') if commit else 'image-built'}",
                    "triggers.tekton.dev/triggers-eventid": self.ctx.uid(),
                }
        labels["tekton.dev/pipeline"] = pipeline.name if pipeline.ref_style == "ref" else meta.name
        return labels, annotations

    def _run_params(
        self, pipeline: PipelineDef, commit: Commit | None, event: Event
    ) -> list[tuple[str, object]]:
        params: list[tuple[str, object]] = []
        if pipeline.repo is not None and commit is not None:
            params.extend(conventions.source_params(pipeline, commit))
            params.append(("event-type", commit.event_type))
        if pipeline.kind == "build":
            params.append(
                ("build-args", [f"VERSION=1.{pipeline.index}.{self.rng.randint(0, 99)}", "CGO_ENABLED=0"])
            )
            params.append(("git-config", {"user.name": "ci-bot", "user.email": "ci-bot@acme.dev"}))
        if pipeline.kind == "scan" and event.digests:
            uri, digest = event.digests[0]
            params.append(("image", f"{uri}@{digest}"))
            params.append(("severity", ["CRITICAL", "HIGH"]))
        if pipeline.kind == "deploy" and event.digests:
            params.append(("images", [f"{uri}@{digest}" for uri, digest in event.digests]))
            params.append(("environment", "staging" if pipeline.index % 2 else "production"))
        return params

    def _artifacts(
        self, pipeline: PipelineDef, commit: Commit | None, meta: RunMeta
    ) -> list[tuple[str, str, str, str]]:
        """(hint prefix, uri, digest, kind) of what this build would produce if it succeeds."""
        repo = pipeline.repo
        assert repo is not None
        rng = self.rng
        digest = f"sha256:{rng.getrandbits(256):064x}"
        style = pipeline.artifact_style
        if style in ("images", "prefixed"):
            second = f"sha256:{rng.getrandbits(256):064x}"
            other = "debug" if style == "images" else "migrations"
            return [
                ("app", repo.image_repo, digest, "image"),
                (other, f"{repo.image_repo}-{other}", second, "image"),
            ]
        if style == "artifact-outputs":
            return [("IMAGE", repo.image_repo, digest, "artifact")]
        if style == "artifact-uri":
            version = f"1.{pipeline.index}.{rng.randint(0, 999)}"
            uri = f"https://nexus.acme.dev/repository/releases/com/acme/{repo.name}/{version}/{repo.name}-{version}.tar.gz"
            return [("", uri, digest, "artifact")]
        return [("", repo.image_repo, digest, "image")]

    def _emit_pipeline_run(
        self,
        sim: PipelineRunSim,
        meta: RunMeta,
        commit: Commit | None,
        artifacts: list[tuple[str, str, str, str]],
        event: Event,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        pipeline = sim.pipeline
        clone_ok = any(tr.task.git_clone and tr.final.status == "True" for tr in sim.task_runs)
        build_ok = any(tr.task.builds_image and tr.final.status == "True" for tr in sim.task_runs)
        results: list[tuple[str, object]] = []
        if commit is not None and clone_ok and pipeline.repo is not None:
            results.extend(conventions.source_results(pipeline, commit))
        if sim.status == "True":
            if artifacts:
                results.extend(conventions.artifact_results(artifacts, commit, pipeline.index))
            results.extend(conventions.summary_results(pipeline, event.digests))
        meta.results = results
        if sim.end is not None:
            meta.annotations = {**meta.annotations, **self._chains(sim.status == "True" and bool(artifacts))}
        if self.rng.random() < 0.25:
            rname = conventions.result_for(meta, None)
            meta.annotations = {
                **meta.annotations,
                "results.tekton.dev/result": rname,
                "results.tekton.dev/record": f"{rname}/records/{meta.uid}",
            }
        links = self._link_style()
        child_metas = [
            self._child_meta(tr, meta, pipeline, commit, artifacts if build_ok else [], links)
            for tr in sim.task_runs
        ]
        pr = render_pipeline_run(sim, meta, child_metas)
        self._add(pr, sim.created, meta, sim.end, sim.start)
        children = []
        inline_tasks = pipeline.ref_style == "pac"
        for tr, child in zip(sim.task_runs, child_metas, strict=True):
            obj = render_task_run(tr, child, meta, inline_task=inline_tasks)
            self._add(obj, tr.created, child, tr.final.end, tr.final.start if tr.final.start >= 0 else None)
            children.append(obj)
        return pr, children

    def _link_style(self) -> str:
        """How a PipelineRun's children point back at it: usually owner reference plus labels; now and then only
        the name label (no owner reference, no uid label) or only the owner reference (no run labels), so consumers
        must use whichever is present (data-model.md)."""
        r = self.rng.random()
        return "labels" if r < LINK_VARIANT_RATE else "owner" if r < 2 * LINK_VARIANT_RATE else "both"

    def _chains(self, produced: bool) -> dict[str, str]:
        r = self.rng.random()
        if produced:
            if r < 0.85:
                entry = self.rng.randint(10_000_000, 99_999_999)
                return {
                    "chains.tekton.dev/signed": "true",
                    "chains.tekton.dev/transparency": f"https://rekor.sigstore.dev/api/v1/log/entries?logIndex={entry}",
                }
            if r < 0.92:
                return {"chains.tekton.dev/signed": "failed", "chains.tekton.dev/retries": "3"}
            return {}
        return {"chains.tekton.dev/signed": "true"} if r < 0.4 else {}

    def _child_meta(
        self,
        tr: TaskRunSim,
        owner: RunMeta,
        pipeline: PipelineDef,
        commit: Commit | None,
        artifacts: list[tuple[str, str, str, str]],
        links: str,
    ) -> RunMeta:
        labels = {k: v for k, v in owner.labels.items() if not k.startswith("dashboard.")}
        labels.update(
            {
                "app.kubernetes.io/managed-by": labels.get(
                    "app.kubernetes.io/managed-by", "tekton-pipelines"
                ),
                "tekton.dev/memberOf": tr.member_of,
                "tekton.dev/pipeline": owner.labels["tekton.dev/pipeline"],
                "tekton.dev/pipelineRun": owner.name,
                "tekton.dev/pipelineRunUID": owner.uid,
                "tekton.dev/pipelineTask": tr.task.name,
            }
        )
        if pipeline.ref_style != "pac":
            labels["tekton.dev/task"] = tr.task.task_ref
        if links != "both":
            del labels["tekton.dev/pipelineRunUID"]
        if links == "owner":
            del labels["tekton.dev/pipelineRun"]
        annotations = {k: v for k, v in owner.annotations.items() if k.startswith("pipelinesascode.")}
        if tr.final.end is not None and self.rng.random() < 0.5:
            annotations["chains.tekton.dev/signed"] = "true"
        self.resource_version += self.rng.randint(1, 40)
        meta = RunMeta(
            name=tr.name,
            uid=tr.uid,
            api_version=owner.api_version,
            namespace=owner.namespace,
            labels=labels,
            annotations=annotations,
            params=conventions.task_params(tr.task, pipeline, commit, owner.params),
            results=conventions.task_results(tr.task, pipeline, commit, artifacts, self.rng),
            resource_version=str(self.resource_version),
            managed_fields=self.rng.random() < 0.1,
            embed_spec=self.rng.random() < 0.3,
            service_account=owner.service_account,
            owner_reference=links != "labels",
        )
        return meta

    def _add(
        self, obj: dict[str, Any], created: int, meta: RunMeta, end: int | None, start: int | None
    ) -> None:
        rng = self.rng
        create_time = created + rng.uniform(0.2, 2.5)
        if end is not None:
            update_time = end + rng.uniform(1.0, 8.0)
            if "chains.tekton.dev/signed" in meta.annotations:
                update_time += rng.uniform(20.0, 900.0)
        else:
            update_time = max(create_time, (start or created) + rng.uniform(0.5, 3.0))
        owner = (obj["metadata"].get("ownerReferences") or [{}])[0].get("uid")
        rname = conventions.result_for(meta, owner)
        head = (
            '{"name":"' + f"{rname}/records/{meta.uid}" + '","uid":"' + self.ctx.uid()
            + '","type":"' + f"{meta.api_version}.{obj['kind']}" + '","create_time":"' + rfc3339_micro(create_time)
            + '","update_time":"' + rfc3339_micro(max(update_time, create_time)) + '","data":'
        )  # fmt: skip
        self.writer.add(created, obj, head)

    def _emit_pending(self, pipeline: PipelineDef, meta: RunMeta, at: int) -> None:
        """An explicitly pending PipelineRun (spec.status PipelineRunPending): created, never started."""
        sim = PipelineRunSim(pipeline, at, None, None, "Unknown", "PipelineRunPending",
                             f'PipelineRun "{meta.name}" is pending', [], [], spec_status="PipelineRunPending")  # fmt: skip
        pr = render_pipeline_run(sim, meta, [])
        self._add(pr, at, meta, None, None)
        self.truth.observe_pipeline_run(pr, [], None)

    def _after_run(
        self,
        at: int,
        pipeline: PipelineDef,
        state: PipelineState,
        sim: PipelineRunSim,
        meta: RunMeta,
        pr: dict[str, Any],
        commit: Commit | None,
        artifacts: list[tuple[str, str, str, str]],
        event: Event,
    ) -> None:
        rng = self.rng
        if event.kind == "push":
            state.old_names.append((at, meta.name, meta.uid))
        if pipeline.streak_from_day is not None and state.streak_left >= 0 and event.kind == "push":
            self._track_streak(pipeline, state, sim, meta)
        if sim.end is None:
            return
        if sim.status == "True" and artifacts:
            self._record_artifacts(pipeline, sim, meta, commit, artifacts)
        if sim.status != "False" or not pipeline.can_be_rerun or commit is None:
            return
        if sim.flaky_failed and event.retrigger_round < 2:
            r = rng.random()
            if r < 0.6:
                self.schedule(
                    sim.end + rng.randint(300, 5400),
                    Event("retrigger", pipeline, commit, retrigger_round=event.retrigger_round + 1),
                )
            elif r < 0.9:
                self.schedule(
                    sim.end + rng.randint(120, 3600),
                    Event(
                        "rerun",
                        pipeline,
                        commit,
                        original=meta,
                        original_params=meta.params,
                        retrigger_round=event.retrigger_round + 1,
                    ),
                )
        elif (
            not sim.flaky_failed
            and sim.mode in ("step_error", "oom")
            and event.kind == "push"
            and pipeline.streak_from_day is None
            and rng.random() < 0.2
        ):
            failed_task = next(tr.task.name for tr in sim.task_runs if tr.final.failed_by == sim.mode)
            rerun = Event(
                "rerun", pipeline, commit, mode=sim.mode, original=meta, original_params=meta.params
            )
            rerun.retrigger_round, rerun.fail_task = 2, failed_task
            self.schedule(sim.end + rng.randint(120, 3600), rerun)

    def _track_streak(
        self, pipeline: PipelineDef, state: PipelineState, sim: PipelineRunSim, meta: RunMeta
    ) -> None:
        if state.streak_left > 0:
            state.streak_runs.append(meta.uid)
            state.streak_left -= 1
        elif state.streak_left == 0 and state.streak_runs:
            self._close_streak(pipeline, state, meta.uid if sim.status == "True" else None)

    def _close_streak(self, pipeline: PipelineDef, state: PipelineState, recovered_by: str | None) -> None:
        self.truth.declare_streak(
            {
                "namespace": pipeline.namespace,
                "pipeline_name": pipeline.name,
                "run_uids": list(state.streak_runs),
                "length": len(state.streak_runs),
                "recovered_by": recovered_by,
            }
        )
        state.streak_runs = []
        state.streak_left = -2

    def _record_artifacts(
        self,
        pipeline: PipelineDef,
        sim: PipelineRunSim,
        meta: RunMeta,
        commit: Commit | None,
        artifacts: list[tuple[str, str, str, str]],
    ) -> None:
        assert pipeline.repo is not None and sim.end is not None
        signed = meta.annotations.get("chains.tekton.dev/signed") == "true"
        repo_url, sha = pipeline.repo.canonical_url, commit.sha if commit else None
        for _, uri, digest, kind in artifacts:
            self.truth.artifact(
                {
                    "digest": digest,
                    "uri": uri,
                    "kind": kind,
                    "producer_run_uid": meta.uid,
                    "namespace": pipeline.namespace,
                    "pipeline_name": pipeline.name,
                    "repo_url": repo_url,
                    "commit_sha": sha,
                    "produced_at": rfc3339(sim.end),
                    "signed": signed,
                }
            )
        self.truth.commit_artifacts(
            {
                "repo_url": repo_url,
                "commit_sha": sha,
                "digests": [d for _, _, d, _ in artifacts],
                "signed": signed,
                "producer_run_uids": [meta.uid],
            }
        )
        # Only container images are scanned and deployed; a tarball in a Maven repository has no consumers.
        refs = [(uri, digest) for _, uri, digest, _ in artifacts if not uri.startswith("https://")]
        planned: list[tuple[int, Event]] = []
        scans = self.org.downstream_for(pipeline.namespace, "scan")
        deploys = self.org.downstream_for(pipeline.namespace, "deploy")
        if scans and self.rng.random() < 0.9:
            target = scans[pipeline.index % len(scans)]
            planned.append(
                (sim.end + self.rng.randint(30, 300), Event("downstream", target, digests=refs[:1]))
            )
        if deploys and self.rng.random() < 0.6:
            target = deploys[pipeline.index % len(deploys)]
            planned.append((sim.end + self.rng.randint(120, 1800), Event("downstream", target, digests=refs)))
        if not refs:
            planned.clear()
        for _, _, digest, _ in artifacts:
            outstanding = sum(1 for _, e in planned if any(d == digest for _, d in e.digests))
            self.pending_artifacts[digest] = _Pending([], outstanding)
            if not outstanding:
                self._flush_consumers(digest)
        for at, event in planned:
            self.schedule(at, event)

    def _consumer_done(self, event: Event) -> None:
        for _, digest in event.digests:
            pending = self.pending_artifacts.get(digest)
            if pending is not None:
                pending.outstanding -= 1
                if pending.outstanding <= 0:
                    self._flush_consumers(digest)

    def _flush_consumers(self, digest: str) -> None:
        pending = self.pending_artifacts.pop(digest)
        self.truth.consumers(digest, pending.consumers)

    def _downstream_event(self, at: int, event: Event) -> None:
        pipeline = event.pipeline
        assert pipeline is not None
        event.mode = self._choose_mode(pipeline, at)
        state = self.states[id(pipeline)]
        api = V1BETA1 if self.rng.random() < self.options.v1beta1_share else V1
        meta, _ = self._pipeline_meta(pipeline, state, at, api, event, None)
        sim = simulate_pipeline_run(
            self.ctx, pipeline, meta.name, at, mode=event.mode, event_type="push", factor=1.0
        )
        pr, children = self._emit_pipeline_run(sim, meta, None, [], event)
        self.truth.observe_pipeline_run(pr, children, None)
        for _, digest in event.digests:
            pending = self.pending_artifacts.get(digest)
            if pending is not None:
                pending.consumers.append(meta.uid)
        self._consumer_done(event)

    # -- standalone and ad-hoc runs ---------------------------------------------------------------------------------

    def _standalone_event(self, at: int, event: Event) -> None:
        standalone = event.standalone
        assert standalone is not None
        rng = self.rng
        mode = "success"
        if (
            event.mode != "pending"
            and at <= self.now - QUIET_TAIL_S
            and rng.random() < STANDALONE_FAILURE_RATE
        ):
            mode = STANDALONE_FAILURE_MODES[next(self.standalone_turn) % len(STANDALONE_FAILURE_MODES)]
        name = f"{standalone.task.name}-" + "".join(rng.choices(NAME_ALPHABET, k=5))
        tr = simulate_standalone(self.ctx, standalone.task, name, standalone.namespace, at, mode)
        if event.mode == "pending" and not tr.pending:
            tr.attempts = [Attempt("", -1, None, [], "Unknown", "Pending", "Pending")]
        api = V1BETA1 if rng.random() < self.options.v1beta1_share else V1
        labels = {
            "app.kubernetes.io/managed-by": "tekton-pipelines",
            "tekton.dev/task": standalone.task.task_ref,
        }
        if standalone.triggered:
            labels["triggers.tekton.dev/eventlistener"] = "ops-listener"
            labels["triggers.tekton.dev/trigger"] = f"{standalone.task.name}-cron"
            labels["triggers.tekton.dev/triggers-eventid"] = self.ctx.uid()
        self.resource_version += rng.randint(1, 40)
        annotations = (
            {"chains.tekton.dev/signed": "true"} if tr.final.end is not None and rng.random() < 0.5 else {}
        )
        meta = RunMeta(
            name=name,
            uid=tr.uid,
            api_version=api,
            namespace=standalone.namespace,
            generate_name=f"{standalone.task.name}-",
            labels=labels,
            annotations=annotations,
            params=[("target", standalone.namespace), ("flags", ["--verbose"])],
            results=[("SUMMARY", {"status": "ok", "items": str(rng.randint(1, 500))})],
            resource_version=str(self.resource_version),
            managed_fields=rng.random() < 0.1,
            embed_spec=rng.random() < 0.3,
        )
        obj = render_task_run(tr, meta, None)
        self._add(obj, at, meta, tr.final.end, tr.final.start if tr.final.start >= 0 else None)
        self.truth.observe_standalone(obj)

    def _adhoc_event(self, at: int, event: Event) -> None:
        """A hand-written PipelineRun with an inline spec and a fixed name: its pipeline_name is '(inline)'."""
        pipeline = self.adhoc[event.namespace]
        rng = self.rng
        name = "debug-" + "".join(rng.choices(NAME_ALPHABET, k=6))
        api = V1BETA1 if rng.random() < self.options.v1beta1_share else V1
        self.resource_version += rng.randint(1, 40)
        meta = RunMeta(
            name=name,
            uid=self.ctx.uid(),
            api_version=api,
            namespace=event.namespace,
            labels={"tekton.dev/pipeline": name},
            params=[("message", "hello")],
            resource_version=str(self.resource_version),
        )
        mode = self._choose_mode(pipeline, at) if rng.random() < 0.5 else "success"
        if mode in CUT_MODES or mode.partition(":")[0] in PIPELINE_FAILURE_MODES:
            mode = "step_error"
        sim = simulate_pipeline_run(self.ctx, pipeline, name, at, mode=mode, event_type="push", factor=1.0)
        pr, children = self._emit_pipeline_run(sim, meta, None, [], event)
        self.truth.observe_pipeline_run(pr, children, None)


def _adhoc_pipeline(namespace: str) -> PipelineDef:
    debug = TaskDef("debug", "debug", ("shell",), "docker.io/library/busybox:1.36", 15)
    return PipelineDef(
        namespace=namespace, name="(inline)", kind="adhoc", levels=((debug,),), finally_tasks=(),
        ref_style="adhoc", source_style="", artifact_style="", repo=None, service_account="default",
    )  # fmt: skip


def generate_history(options: GenerateOptions, out_dir: Path) -> tuple[int, GroundTruth]:
    """Write the chosen files into out_dir (via temporary names, replaced at the end); returns objects written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {"objects": out_dir / "objects.ndjson", "records": out_dir / "records.ndjson"}
    wanted = {"ndjson": ("objects",), "records": ("records",), "both": ("objects", "records")}[options.fmt]
    temps = {k: targets[k].with_name(f".{targets[k].name}.tmp") for k in wanted}
    handles = {k: temps[k].open("w", buffering=1 << 20) for k in wanted}
    try:
        writer = OrderedWriter(handles.get("objects"), handles.get("records"))
        generator = HistoryGenerator(options, out_dir, writer)
        try:
            generator.run()
            for handle in handles.values():
                handle.close()
            generator.truth.write(out_dir / "ground_truth.json")
        except BaseException:
            generator.truth.spool.remove()
            raise
        for key, temp in temps.items():
            temp.replace(targets[key])
        return writer.written, generator.truth
    finally:
        for handle in handles.values():
            handle.close()
        for temp in temps.values():
            temp.unlink(missing_ok=True)
