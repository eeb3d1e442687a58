"""How real Tekton installations decorate runs: labels, annotations, params and results by convention.

Triggers, Pipelines-as-Code, resolvers, the git-clone task, Chains type hints, Konflux-style source results: each
function here writes one convention (see tekton-results-api.md §5-6 and data-model.md "Code source"), in the
variants the marts must cope with (SSH and upper-case URLs, typed results, prefixed image hints...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from etl.synth.clock import rfc3339
from etl.synth.model import PipelineDef, TaskDef
from etl.synth.render import RunMeta


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    message: str
    timestamp: int
    event_type: str


def result_for(meta: RunMeta, owner_uid: str | None) -> str:
    """The Result a run's record lands in, by the watcher's rules (event id, owner PipelineRun, own uid)."""
    event_id = meta.labels.get("triggers.tekton.dev/triggers-eventid")
    if event_id:
        return f"{meta.namespace}/results/{event_id}"
    return f"{meta.namespace}/results/{owner_uid or meta.uid}"


def pipeline_ref(pipeline: PipelineDef) -> dict[str, object] | None:
    style, name = pipeline.ref_style, pipeline.name
    if style == "ref":
        return {"name": name}
    if style == "resolver-git":
        return {
            "resolver": "git",
            "params": [
                {"name": "url", "value": f"https://github.com/acme-{pipeline.namespace}/pipelines.git"},
                {"name": "revision", "value": "main"},
                {"name": "pathInRepo", "value": f"pipelines/{name}.yaml"},
            ],
        }
    if style == "resolver-bundles":
        return {
            "resolver": "bundles",
            "params": [
                {"name": "bundle", "value": f"quay.io/acme-{pipeline.namespace}/pipelines:{name}-v3"},
                {"name": "name", "value": name},
                {"name": "kind", "value": "pipeline"},
            ],
        }
    if style == "resolver-hub":
        return {
            "resolver": "hub",
            "params": [
                {"name": "catalog", "value": "acme-catalog"},
                {"name": "kind", "value": "pipeline"},
                {"name": "name", "value": name},
                {"name": "version", "value": "0.3"},
            ],
        }
    if style == "resolver-cluster":
        return {
            "resolver": "cluster",
            "params": [
                {"name": "kind", "value": "pipeline"},
                {"name": "name", "value": name},
                {"name": "namespace", "value": "shared-pipelines"},
            ],
        }
    return None


def pac_labels(pipeline: PipelineDef, commit: Commit, retest: bool) -> tuple[dict[str, str], dict[str, str]]:
    repo = pipeline.repo
    assert repo is not None
    event = commit.event_type
    labels = {
        "app.kubernetes.io/managed-by": "pipelinesascode.tekton.dev",
        "pipelinesascode.tekton.dev/sha": commit.sha,
        "pipelinesascode.tekton.dev/event-type": "retest-comment" if retest else event,
        "pipelinesascode.tekton.dev/repository": repo.name,
        "pipelinesascode.tekton.dev/original-prname": pipeline.name,
        "pipelinesascode.tekton.dev/url-org": repo.org,
        "pipelinesascode.tekton.dev/url-repository": repo.name,
        "pipelinesascode.tekton.dev/sender": commit.email.split("@")[0].replace(".", "-"),
        "pipelinesascode.tekton.dev/branch": "main",
        "pipelinesascode.tekton.dev/state": "completed",
    }
    url = repo.canonical_url if repo.host_form == "ssh" else repo.written_url.rstrip("/")
    annotations = {
        "pipelinesascode.tekton.dev/repo-url": url,
        "pipelinesascode.tekton.dev/sha-title": commit.message,
        "pipelinesascode.tekton.dev/sha-url": f"{repo.canonical_url}/commit/{commit.sha}",
        "pipelinesascode.tekton.dev/git-provider": repo.host.split(".")[0],
        "pipelinesascode.tekton.dev/on-event": f"[{event}]",
        "pipelinesascode.tekton.dev/on-target-branch": "[main]",
        "pipelinesascode.tekton.dev/max-keep-runs": "5",
    }
    return labels, annotations


def source_params(pipeline: PipelineDef, commit: Commit) -> list[tuple[str, object]]:
    repo = pipeline.repo
    assert repo is not None
    url, sha, style = repo.written_url, commit.sha, pipeline.source_style
    if pipeline.ref_style == "pac":
        return [("repo_url", url), ("revision", sha)]
    if style == "results":
        return [("git-url", url), ("revision", sha)]
    if style == "params":
        return [("repo-url", url), ("revision", sha)]
    if style == "chains":
        return [("repo_url", url), ("revision", "main")]
    if style == "git-url":
        return [("git-url", url), ("revision", "main")]
    if style == "clone-only":
        return [("source-repository", url), ("source-branch", "main")]
    if style == "upper-params":
        return [("REPO_URL", url), ("REPO_COMMIT", sha)]
    if style == "commit-sha":
        return [("repo_url", url), ("git-revision", "main"), ("commit-sha", sha)]
    return [("url", url), ("commit", sha)]


def source_results(pipeline: PipelineDef, commit: Commit) -> list[tuple[str, object]]:
    repo = pipeline.repo
    assert repo is not None
    if pipeline.source_style == "results":
        sha = commit.sha.upper() if pipeline.index % 4 == 0 else commit.sha
        return [
            ("REPO_URL", repo.written_url),
            ("REPO_COMMIT", sha),
            ("COMMIT_AUTHOR", commit.author),
            ("COMMIT_AUTHOR_EMAIL", commit.email),
            ("COMMIT_MESSAGE", commit.message),
            ("COMMIT_TIMESTAMP", rfc3339(commit.timestamp)),
            ("TRIGGER", commit.event_type),
        ]
    if pipeline.source_style == "chains":
        return [
            ("CHAINS-GIT_URL", repo.written_url),
            ("CHAINS-GIT_COMMIT", commit.sha),
            ("COMMIT_TIMESTAMP", rfc3339(commit.timestamp)),
        ]
    return []


def artifact_results(
    artifacts: list[tuple[str, str, str, str]], commit: Commit | None, index: int
) -> list[tuple[str, object]]:
    results: list[tuple[str, object]] = []
    tag = f":{commit.sha[:7]}" if commit is not None and index % 2 == 0 else ""
    kinds = {prefix for prefix, _, _, _ in artifacts}
    if len(artifacts) == 2 and kinds == {"app", "debug"}:
        sep = ",\n" if artifacts[0][2][-1] in "01234567" else ", "  # both forms, stable within one run
        return [("IMAGES", sep.join(f"{uri}@{digest}" for _, uri, digest, _ in artifacts))]
    for prefix, uri, digest, kind in artifacts:
        if kind == "artifact" and prefix == "IMAGE":
            results.append(
                ("IMAGE_ARTIFACT_OUTPUTS", {"uri": uri, "digest": digest, "isBuildArtifact": "true"})
            )
        elif kind == "artifact":
            results.extend([("ARTIFACT_URI", uri), ("ARTIFACT_DIGEST", digest)])
        elif prefix:
            results.extend([(f"{prefix}-IMAGE_URL", f"{uri}{tag}"), (f"{prefix}-IMAGE_DIGEST", digest)])
        else:
            results.extend([("IMAGE_URL", f"{uri}{tag}"), ("IMAGE_DIGEST", digest)])
    return results


def summary_results(pipeline: PipelineDef, digests: list[tuple[str, str]]) -> list[tuple[str, object]]:
    if pipeline.kind == "ci":
        return [("TEST_SUMMARY", {"passed": "412", "failed": "0", "skipped": "3"})]
    if pipeline.kind == "scan" and digests:
        uri, digest = digests[0]
        results: list[tuple[str, object]] = [("SCAN_SUMMARY", {"critical": "0", "high": "2"})]
        if pipeline.index % 2 == 0:
            results.append(("SOURCE_ARTIFACT_INPUTS", {"uri": uri, "digest": digest}))
        return results
    if pipeline.kind == "deploy":
        return [("DEPLOYED_REVISION", "v1." + str(pipeline.index)), ("ENVIRONMENTS", ["staging"])]
    return []


def task_params(
    task: TaskDef, pipeline: PipelineDef, commit: Commit | None, run_params: list[tuple[str, object]]
) -> list[tuple[str, object]]:
    if task.git_clone and pipeline.repo is not None:
        revision = (
            commit.sha
            if commit is not None and pipeline.source_style not in ("git-url", "clone-only", "chains")
            else "main"
        )
        return [("url", pipeline.repo.written_url), ("revision", revision), ("depth", "1")]
    if task.builds_image and pipeline.repo is not None:
        tag = commit.sha[:7] if commit else "latest"
        return [
            ("IMAGE", f"{pipeline.repo.image_repo}:{tag}"),
            ("DOCKERFILE", "./Dockerfile"),
            ("BUILD_ARGS", ["CGO_ENABLED=0"]),
        ]
    consumed = [(n, v) for n, v in run_params if n in ("image", "images")]
    return consumed or [("args", ["--verbose"])]


def task_results(
    task: TaskDef,
    pipeline: PipelineDef,
    commit: Commit | None,
    artifacts: list[tuple[str, str, str, str]],
    rng: random.Random,
) -> list[tuple[str, object]]:
    if task.git_clone and pipeline.repo is not None and commit is not None:
        return [
            ("url", pipeline.repo.written_url),
            ("commit", commit.sha),
            ("committer-date", str(commit.timestamp)),
        ]
    if task.builds_image and artifacts:
        return artifact_results(artifacts, commit, pipeline.index)
    if task.name in ("unit-test", "integration-test"):
        return [
            ("TEST_OUTPUT", {"result": "SUCCESS", "successes": str(rng.randint(50, 900)), "failures": "0"})
        ]
    if task.name == "lint":
        return [("CHANGED_FILES", ["cmd/main.go", "internal/handler.go"])]
    return []
