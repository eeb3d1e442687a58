"""The synthetic organisation: namespaces, repositories, pipelines and the truths injected into them.

Everything here is small (one entry per pipeline) and derived only from the seed and the options, so the same
options always describe the same organisation. The run-by-run history is produced elsewhere, streaming.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

NAMESPACE_NAMES = (
    "payments",
    "checkout",
    "platform",
    "mobile",
    "search",
    "identity",
    "billing",
    "growth",
    "data",
    "ml",
    "web",
    "infra",
)
APP_NAMES = (
    "api",
    "web",
    "worker",
    "gateway",
    "ledger",
    "auth",
    "cart",
    "catalog",
    "indexer",
    "notifier",
    "reports",
    "frontend",
    "bff",
    "scheduler",
    "pricing",
    "inventory",
)
# Per namespace, the kinds of its pipelines in order: builds first so every namespace has something to consume.
KIND_PATTERN = ("build", "ci", "build", "scan", "deploy", "build", "ci", "build", "deploy", "ci")
REF_STYLES = (
    "ref",
    "pac",
    "resolver-git",
    "ref",
    "resolver-bundles",
    "inline",
    "ref",
    "resolver-hub",
    "pac",
    "resolver-cluster",
)
# How a build/ci pipeline tells where its code came from (see data-model.md "Code source").
SOURCE_STYLES = (
    "results",  # REPO_URL / REPO_COMMIT / COMMIT_* pipeline results
    "params",  # repo-url + revision (full sha)
    "chains",  # CHAINS-GIT_URL / CHAINS-GIT_COMMIT results and params
    "git-url",  # git-url + revision "main": the commit only from the git-clone result
    "clone-only",  # unrecognised param names: repo and commit only from the git-clone results
    "url-commit",  # url + commit params
    "upper-params",  # REPO_URL + REPO_COMMIT params
    "commit-sha",  # repo_url + commit-sha params, git-revision "main" (not hex, so ignored)
)
ARTIFACT_STYLES = ("image", "images", "prefixed", "artifact-outputs", "image", "artifact-uri")
HOST_FORMS = ("plain", "upper", "ssh", "dotgit", "slash", "plain")
FLAKY_RATES = (0.1, 0.2, 0.3, 0.15)
REGRESSION_FACTOR = 1.8
STREAK_LENGTH = 5


@dataclass(frozen=True)
class TaskDef:
    """One pipeline task (or a standalone Task) with its timing and behaviour."""

    name: str
    task_ref: str
    steps: tuple[str, ...]
    image: str
    median_s: float
    sigma: float = 0.25
    retries: int = 0
    flaky_rate: float = 0.0
    git_clone: bool = False
    builds_image: bool = False
    skip_on_pull_request: bool = False
    timeout: str = "1h0m0s"


@dataclass(frozen=True)
class Repo:
    host: str
    org: str
    name: str
    host_form: str

    @property
    def canonical_url(self) -> str:
        """The normalised form the marts must arrive at."""
        return f"https://{self.host}/{self.org}/{self.name}"

    @property
    def written_url(self) -> str:
        """The form this pipeline writes in params, to exercise normalisation."""
        if self.host_form == "upper":
            return f"HTTPS://{self.host.upper()}/{self.org}/{self.name}"
        if self.host_form == "ssh":
            return f"git@{self.host}:{self.org}/{self.name}.git"
        if self.host_form == "dotgit":
            return f"https://{self.host}/{self.org}/{self.name}.git"
        if self.host_form == "slash":
            return f"https://{self.host}/{self.org}/{self.name}/"
        return self.canonical_url

    @property
    def image_repo(self) -> str:
        return f"quay.io/{self.org}/{self.name}"


@dataclass(eq=False)
class PipelineDef:
    """A pipeline of the organisation and the truths injected into it."""

    namespace: str
    name: str
    kind: str
    levels: tuple[tuple[TaskDef, ...], ...]
    finally_tasks: tuple[TaskDef, ...]
    ref_style: str
    source_style: str
    artifact_style: str
    repo: Repo | None
    service_account: str
    flaky_task: str | None = None
    flaky_rate: float = 0.0
    regression_from_day: int | None = None
    regression_factor: float = 1.0
    streak_from_day: int | None = None
    index: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[TaskDef, ...]:
        return tuple(t for level in self.levels for t in level)

    @property
    def is_event_driven(self) -> bool:
        """Build and ci pipelines run on pushes; scan and deploy run on built artifacts."""
        return self.kind in ("build", "ci")

    @property
    def can_be_rerun(self) -> bool:
        """Dashboard reruns only where the rerun keeps the pipeline's name (generateName pipelines would not)."""
        return self.ref_style != "inline"


@dataclass(frozen=True)
class StandaloneTaskDef:
    namespace: str
    task: TaskDef
    triggered: bool


@dataclass
class Organisation:
    namespaces: tuple[str, ...]
    pipelines: list[PipelineDef]
    standalone: list[StandaloneTaskDef]

    def downstream_for(self, namespace: str, kind: str) -> list[PipelineDef]:
        """Scan/deploy pipelines that consume a namespace's images: its own, else any in the organisation."""
        own = [p for p in self.pipelines if p.kind == kind and p.namespace == namespace]
        return own or [p for p in self.pipelines if p.kind == kind]


def _task(name: str, ref: str, steps: tuple[str, ...], image: str, median_s: float, **kw: object) -> TaskDef:
    return TaskDef(name=name, task_ref=ref, steps=steps, image=image, median_s=median_s, **kw)  # type: ignore[arg-type]


GIT_CLONE = _task(
    "fetch-repository", "git-clone", ("clone",), "ghcr.io/tektoncd/git-init:v0.40.2", 9, git_clone=True
)
UNIT_TEST = _task("unit-test", "run-tests", ("prepare", "test"), "docker.io/library/golang:1.23", 140)
LINT = _task("lint", "golangci-lint", ("lint",), "docker.io/golangci/golangci-lint:v1.61", 45)
BUILD_IMAGE = _task(
    "build-image", "buildah", ("build", "push", "digest-to-results"), "quay.io/buildah/stable:v1.37", 210,
    builds_image=True, retries=1,
)  # fmt: skip
PUSH = _task("push-tags", "push-tags", ("tag",), "quay.io/skopeo/stable:v1.16", 12, skip_on_pull_request=True)
INTEGRATION = _task(
    "integration-test",
    "integration-tests",
    ("setup", "run", "teardown"),
    "docker.io/library/python:3.12",
    300,
)
SCAN = _task("vulnerability-scan", "trivy-scan", ("scan",), "docker.io/aquasec/trivy:0.56.1", 70)
SBOM = _task("sbom-check", "syft-sbom", ("sbom",), "docker.io/anchore/syft:v1.14", 25)
REPORT = _task("report", "scan-report", ("report",), "registry.access.redhat.com/ubi9/ubi-minimal:9.4", 5)
VERIFY = _task("verify-signature", "cosign-verify", ("verify",), "gcr.io/projectsigstore/cosign:v2.4.1", 8)
DEPLOY = _task("deploy", "argocd-sync", ("login", "sync", "wait"), "quay.io/argoproj/argocd:v2.12", 95)
SMOKE = _task("smoke-test", "smoke-tests", ("probe",), "docker.io/curlimages/curl:8.10.1", 30)
NOTIFY = _task("notify", "send-to-slack", ("post",), "docker.io/curlimages/curl:8.10.1", 2)

STANDALONE_TASKS = (
    _task("db-migrate", "db-migrate", ("migrate",), "docker.io/flyway/flyway:10", 40),
    _task("registry-cleanup", "registry-cleanup", ("prune",), "quay.io/skopeo/stable:v1.16", 120),
    _task("backup", "pg-backup", ("dump", "upload"), "docker.io/library/postgres:16", 300),
    _task("cert-check", "cert-check", ("check",), "docker.io/library/alpine:3.20", 4),
)


def _levels(kind: str, rng: random.Random) -> tuple[tuple[tuple[TaskDef, ...], ...], tuple[TaskDef, ...]]:
    if kind == "build":
        finally_tasks = (NOTIFY,) if rng.random() < 0.5 else ()
        return ((GIT_CLONE,), (UNIT_TEST,), (BUILD_IMAGE,), (PUSH,)), finally_tasks
    if kind == "ci":
        return ((GIT_CLONE,), (LINT, UNIT_TEST), (INTEGRATION,)), (NOTIFY,)
    if kind == "scan":
        return ((SCAN, SBOM), (REPORT,)), ()
    return ((VERIFY,), (DEPLOY,), (SMOKE,)), (NOTIFY,)


def _with(task: TaskDef, **changes: object) -> TaskDef:
    values = {**task.__dict__, **changes}
    return TaskDef(**values)  # type: ignore[arg-type]


def _inject_flaky(levels: tuple[tuple[TaskDef, ...], ...], target: str, rate: float, retries: int):
    return tuple(
        tuple(_with(t, flaky_rate=rate, retries=retries) if t.name == target else t for t in level)
        for level in levels
    )


FLAKY_TARGET = {"build": "unit-test", "ci": "integration-test", "deploy": "smoke-test"}


def build_organisation(
    rng: random.Random, *, pipelines: int, namespaces: int, days: int, start_day: int
) -> Organisation:
    """Lay out the organisation and choose which pipelines carry which injected truth."""
    namespace_count = max(1, min(namespaces, pipelines))
    names = tuple(
        NAMESPACE_NAMES[i % len(NAMESPACE_NAMES)] + (f"-{i // len(NAMESPACE_NAMES) + 1}" if i >= 12 else "")
        for i in range(namespace_count)
    )
    defs: list[PipelineDef] = []
    per_namespace = [0] * namespace_count
    per_kind: dict[str, int] = {}
    for index in range(pipelines):
        ns_index = index % namespace_count
        position = per_namespace[ns_index]
        per_namespace[ns_index] += 1
        kind = KIND_PATTERN[position % len(KIND_PATTERN)]
        app = APP_NAMES[(position + ns_index * 3) % len(APP_NAMES)]
        suffix = f"-{position // len(APP_NAMES) + 1}" if position >= len(APP_NAMES) else ""
        namespace = names[ns_index]
        levels, finally_tasks = _levels(kind, rng)
        nth = per_kind[kind] = per_kind.get(kind, -1) + 1
        ref_style = REF_STYLES[index % len(REF_STYLES)]
        # Pipelines-as-Code runs carry their own source convention, so styles rotate over the others.
        source_key = "source" if kind in ("build", "ci") and ref_style != "pac" else "source-other"
        source_nth = per_kind[source_key] = per_kind.get(source_key, -1) + 1
        repo = None
        if kind in ("build", "ci"):
            host = ("github.com", "github.com", "gitlab.com")[index % 3]
            repo = Repo(host, f"acme-{namespace}", f"{app}{suffix}", HOST_FORMS[index % len(HOST_FORMS)])
        defs.append(
            PipelineDef(
                namespace=namespace,
                name=f"{app}{suffix}-{kind}" if kind != "scan" else f"image-scan{suffix or ('-' + app)}",
                kind=kind,
                levels=levels,
                finally_tasks=finally_tasks,
                ref_style=ref_style,
                source_style=SOURCE_STYLES[source_nth % len(SOURCE_STYLES)],
                artifact_style=ARTIFACT_STYLES[nth % len(ARTIFACT_STYLES)],
                repo=repo,
                service_account=("pipeline", "build-bot", "default")[index % 3],
                index=index,
            )
        )
    _inject_truths(defs, days=days, start_day=start_day)
    standalone = [
        StandaloneTaskDef(ns, STANDALONE_TASKS[(i + j) % len(STANDALONE_TASKS)], triggered=(i + j) % 3 == 0)
        for i, ns in enumerate(names)
        for j in range(3)
    ]
    return Organisation(names, defs, standalone)


def _inject_truths(defs: list[PipelineDef], *, days: int, start_day: int) -> None:
    """Flaky tasks on every third eligible pipeline, one regression per 20 pipelines, one failing streak."""
    eligible = [p for p in defs if p.kind in FLAKY_TARGET]
    for n, pipeline in enumerate(eligible):
        if n % 3 == 1:
            rate = FLAKY_RATES[(n // 3) % len(FLAKY_RATES)]
            # Deploys have no commit to re-run, so their flakiness can only show as Tekton retries that pass.
            retries = 2 if (n // 3) % 2 == 1 or pipeline.kind == "deploy" else 0
            pipeline.flaky_task = FLAKY_TARGET[pipeline.kind]
            pipeline.flaky_rate = rate
            pipeline.levels = _inject_flaky(pipeline.levels, pipeline.flaky_task, rate, retries)
    steady = [
        p for p in defs if p.flaky_task is None and p.kind in ("build", "ci") and p.ref_style != "inline"
    ]
    regression_count = max(1, len(defs) // 20) if days >= 4 else 0
    for pipeline in steady[:regression_count]:
        pipeline.regression_from_day = start_day + max(1, int(days * 0.6))
        pipeline.regression_factor = REGRESSION_FACTOR
    streak_candidates = steady[regression_count:] or []
    if streak_candidates and days >= 3:
        streak_candidates[0].streak_from_day = start_day + max(1, int(days * 0.4))
