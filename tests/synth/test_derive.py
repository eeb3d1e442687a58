"""The data-model rules the ground truth is computed with, on small hand-made objects."""

from __future__ import annotations

import pytest

from etl.synth import derive


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/api.git", "https://github.com/acme/api"),
        ("HTTPS://GitHub.COM/Acme/api.git/", "https://github.com/Acme/api"),
        ("https://gitlab.com/acme/web/", "https://gitlab.com/acme/web"),
        ("https://github.com/acme/api", "https://github.com/acme/api"),
    ],
)
def test_normalise_repo_url(url: str, expected: str) -> None:
    assert derive.normalise_repo_url(url) == expected


def _pr(name: str = "run-abcde", labels: dict | None = None, spec: dict | None = None, **md: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}, **md}, "spec": spec or {}, "status": {}}


def test_pipeline_name_rules_in_order() -> None:
    assert derive.pipeline_name(_pr(labels={"tekton.dev/pipeline": "build"})) == "build"
    resolver = {
        "pipelineRef": {"resolver": "git", "params": [{"name": "pathInRepo", "value": "p/deploy.yaml"}]}
    }
    assert derive.pipeline_name(_pr(labels={"tekton.dev/pipeline": "run-abcde"}, spec=resolver)) == "deploy"
    bundle = {"pipelineRef": {"resolver": "bundles", "params": [{"name": "name", "value": "scan"}]}}
    assert derive.pipeline_name(_pr(spec=bundle)) == "scan"
    assert derive.pipeline_name(_pr(spec={"pipelineRef": {"name": "ref"}})) == "ref"
    pac = {"pipelinesascode.tekton.dev/original-prname": "on-push", "tekton.dev/pipeline": "run-abcde"}
    assert derive.pipeline_name(_pr(labels=pac, generateName="x-")) == "on-push"
    assert derive.pipeline_name(_pr(generateName="nightly-")) == "nightly"
    assert derive.pipeline_name(_pr(labels={"tekton.dev/pipeline": "run-abcde"})) == "(inline)"


def test_code_source_precedence_and_hex_rule() -> None:
    pr = _pr(
        spec={
            "params": [
                {"name": "git-url", "value": "git@github.com:a/b.git"},
                {"name": "revision", "value": "main"},
            ]
        }
    )
    clone = {
        "status": {
            "results": [{"name": "url", "value": "https://x/y"}, {"name": "commit", "value": "ABCDEF1234567"}]
        }
    }
    assert derive.code_source(pr, [clone]) == ("https://github.com/a/b", "abcdef1234567")
    pr["status"] = {"results": [{"name": "REPO_COMMIT", "value": "1" * 40}]}
    assert derive.code_source(pr, [clone])[1] == "1" * 40


def _run(reason: str, message: str = "", steps: list | None = None) -> dict:
    cond = {"type": "Succeeded", "status": "False", "reason": reason, "message": message}
    return {"status": {"conditions": [cond], "steps": steps or []}}


@pytest.mark.parametrize(
    ("run", "cause"),
    [
        (_run("TaskRunTimeout", steps=[{"terminated": {"reason": "OOMKilled", "exitCode": 137}}]), "timeout"),
        (_run("Failed", steps=[{"terminated": {"reason": "OOMKilled", "exitCode": 137}}]), "oom"),
        (_run("TaskRunImagePullFailed"), "image_pull"),
        (_run("Failed", steps=[{"waiting": {"reason": "ErrImagePull"}}]), "image_pull"),
        (_run("ExceededNodeResources"), "quota"),
        (_run("CouldntGetPipeline"), "resolution"),
        (_run("ParameterTypeMismatch"), "validation"),
        (
            _run("Failed", "Pod was evicted", [{"terminated": {"reason": "Error", "exitCode": 137}}]),
            "pod_failure",
        ),
        (_run("Failed", steps=[{"terminated": {"reason": "Error", "exitCode": 2}}]), "step_error"),
        (_run("Failed"), "unknown"),
    ],
)
def test_failure_cause_first_matching_rule(run: dict, cause: str) -> None:
    assert derive.failure_cause(run) == cause
