"""Object shapes: both API versions with their own field names, and every labelling convention the marts read."""

from __future__ import annotations

import re
from typing import Any

from tests.synth.conftest import History

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _results(obj: dict[str, Any]) -> list[dict[str, Any]]:
    status = obj["status"]
    return status.get("results") or status.get("pipelineResults") or status.get("taskResults") or []


def _all_values(history: History) -> list[Any]:
    values = []
    for obj in history.objects:
        values += [p["value"] for p in obj["spec"].get("params", [])]
        values += [r["value"] for r in _results(obj)]
    return values


def test_both_api_versions_appear_in_the_configured_share(history: History) -> None:
    versions = [o["apiVersion"] for o in history.pipeline_runs]
    share = versions.count("tekton.dev/v1beta1") / len(versions)
    assert set(versions) == {"tekton.dev/v1", "tekton.dev/v1beta1"}
    assert 0.1 < share < 0.3


def test_v1_pipeline_runs_use_v1_field_names_only(history: History) -> None:
    v1 = [o for o in history.pipeline_runs if o["apiVersion"] == "tekton.dev/v1"]
    for pr in v1:
        assert "serviceAccountName" not in pr["spec"]
        assert "serviceAccountName" in pr["spec"]["taskRunTemplate"]
        assert "pipelineResults" not in pr["status"] and "taskRuns" not in pr["status"]
    assert any("childReferences" in pr["status"] for pr in v1)
    assert any("results" in pr["status"] for pr in v1)


def test_v1beta1_pipeline_runs_use_v1beta1_field_names_only(history: History) -> None:
    beta = [o for o in history.pipeline_runs if o["apiVersion"] == "tekton.dev/v1beta1"]
    for pr in beta:
        assert "taskRunTemplate" not in pr["spec"] and "serviceAccountName" in pr["spec"]
        assert "results" not in pr["status"] and "childReferences" not in pr["status"]
    assert any(isinstance(pr["status"].get("taskRuns"), dict) for pr in beta)
    assert any("pipelineResults" in pr["status"] for pr in beta)


def test_task_runs_use_their_versions_result_field(history: History) -> None:
    for tr in history.task_runs:
        wrong = "taskResults" if tr["apiVersion"] == "tekton.dev/v1" else "results"
        assert wrong not in tr["status"]
    assert any("taskResults" in tr["status"] for tr in history.task_runs)
    assert any("results" in tr["status"] for tr in history.task_runs)


def test_identity_fields(history: History) -> None:
    uids = [o["metadata"]["uid"] for o in history.objects]
    assert len(set(uids)) == len(uids)
    assert all(UUID4.match(uid) for uid in uids)
    assert all(o["metadata"]["resourceVersion"].isdigit() for o in history.objects)
    assert any("managedFields" in o["metadata"] for o in history.objects)
    assert any("pipelineSpec" in o["status"] for o in history.pipeline_runs)
    assert any("taskSpec" in o["status"] for o in history.task_runs)


def test_names_repeat_but_uids_do_not(history: History) -> None:
    reused = history.truth["reused_names"]
    assert reused, "a moderate history reuses some deleted runs' names"
    by_uid = history.by_uid()
    for entry in reused:
        runs = [by_uid[uid] for uid in entry["uids"]]
        assert {r["metadata"]["name"] for r in runs} == {entry["name"]}
        assert runs[0]["metadata"]["creationTimestamp"] < runs[1]["metadata"]["creationTimestamp"]


def test_param_and_result_values_of_all_three_types(history: History) -> None:
    types = {type(v) for v in _all_values(history)}
    assert {str, list, dict} <= types


def test_trigger_dashboard_and_pac_labels(history: History) -> None:
    labels = [o["metadata"]["labels"] for o in history.pipeline_runs]
    assert any(
        "triggers.tekton.dev/triggers-eventid" in lab and "triggers.tekton.dev/eventlistener" in lab
        for lab in labels
    )
    pac = [lab for lab in labels if "pipelinesascode.tekton.dev/sha" in lab]
    assert pac and all("pipelinesascode.tekton.dev/original-prname" in lab for lab in pac)
    reruns = [o for o in history.pipeline_runs if "dashboard.tekton.dev/rerunOf" in o["metadata"]["labels"]]
    assert reruns
    names = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in history.pipeline_runs}
    for rerun in reruns:
        original = rerun["metadata"]["labels"]["dashboard.tekton.dev/rerunOf"]
        assert rerun["metadata"]["generateName"] == f"{original}-r-"
        assert (rerun["metadata"]["namespace"], original) in names


def test_resolver_and_inline_pipelines(history: History) -> None:
    resolvers = {}
    for pr in history.pipeline_runs:
        ref = pr["spec"].get("pipelineRef") or {}
        if ref.get("resolver"):
            resolvers[ref["resolver"]] = pr
            assert pr["metadata"]["labels"]["tekton.dev/pipeline"] == pr["metadata"]["name"]
            names = {p["name"] for p in ref["params"]}
            assert "name" in names or "pathInRepo" in names
    assert set(resolvers) == {"git", "bundles", "hub", "cluster"}
    inline = [pr for pr in history.pipeline_runs if "pipelineSpec" in pr["spec"]]
    assert any("generateName" in pr["metadata"] for pr in inline)
    assert any("generateName" not in pr["metadata"] for pr in inline), "a hand-written (inline) run"


def test_code_source_forms_exercise_normalisation(history: History) -> None:
    params = [p for pr in history.pipeline_runs for p in pr["spec"]["params"] if isinstance(p["value"], str)]
    urls = [p["value"] for p in params if p["name"] in ("repo-url", "git-url", "url", "repo_url")]
    assert any(u.startswith("git@") for u in urls)
    assert any(re.match(r"^HTTPS://[A-Z.]+/", u) for u in urls)
    assert any(u.endswith(".git") for u in urls) and any(u.endswith("/") for u in urls)
    param_names = {p["name"] for p in params}
    assert {
        "REPO_URL",
        "REPO_COMMIT",
        "repo-url",
        "repo_url",
        "git-url",
        "url",
        "revision",
        "commit",
    } <= param_names
    assert {"commit-sha", "git-revision"} <= param_names
    assert any(p["name"] == "revision" and p["value"] == "main" for p in params), (
        "a revision that is no commit"
    )
    result_names = {r["name"] for pr in history.pipeline_runs for r in _results(pr)}
    assert {
        "REPO_URL",
        "REPO_COMMIT",
        "COMMIT_AUTHOR",
        "COMMIT_AUTHOR_EMAIL",
        "COMMIT_MESSAGE",
    } <= result_names
    assert {"COMMIT_TIMESTAMP", "TRIGGER", "CHAINS-GIT_URL", "CHAINS-GIT_COMMIT"} <= result_names
    clone = [
        tr
        for tr in history.task_runs
        if tr["metadata"]["labels"].get("tekton.dev/pipelineTask") == "fetch-repository"
    ]
    assert any({"url", "commit"} <= {r["name"] for r in _results(tr)} for tr in clone)


def test_artifact_type_hints_and_chains_annotations(history: History) -> None:
    results = [r for o in history.objects for r in _results(o)]
    names = {r["name"] for r in results}
    assert {"IMAGE_URL", "IMAGE_DIGEST", "IMAGES", "ARTIFACT_URI", "ARTIFACT_DIGEST"} <= names
    assert any(n.endswith("-IMAGE_URL") for n in names) and any(n.endswith("-IMAGE_DIGEST") for n in names)
    outputs = [r["value"] for r in results if r["name"].endswith("ARTIFACT_OUTPUTS")]
    assert outputs and all({"uri", "digest"} <= set(v) for v in outputs)
    images = [r["value"] for r in results if r["name"] == "IMAGES"]
    assert any("\n" in v for v in images) and any("\n" not in v and "," in v for v in images)
    inputs = [r["value"] for r in results if r["name"].endswith("ARTIFACT_INPUTS")]
    assert inputs and all(v["digest"].startswith("sha256:") for v in inputs)
    signed = {o["metadata"]["annotations"].get("chains.tekton.dev/signed") for o in history.pipeline_runs}
    assert {"true", "failed", None} <= signed


def test_downstream_runs_carry_digests_in_params(history: History) -> None:
    refs = [
        p["value"]
        for pr in history.pipeline_runs
        for p in pr["spec"]["params"]
        if p["name"] == "image" and isinstance(p["value"], str)
    ]
    assert refs and all(re.match(r"^[\w./-]+@sha256:[0-9a-f]{64}$", r) for r in refs)
    arrays = [
        p["value"] for pr in history.pipeline_runs for p in pr["spec"]["params"] if p["name"] == "images"
    ]
    assert arrays and all(isinstance(v, list) and v for v in arrays)


def test_steps_retries_and_waiting_states(history: History) -> None:
    steps = [s for tr in history.task_runs for s in tr["status"].get("steps", [])]
    terminated = [s["terminated"] for s in steps if "terminated" in s]
    assert all({"exitCode", "reason", "startedAt", "finishedAt"} <= set(t) for t in terminated)
    assert {"OOMKilled", "Completed", "Error"} <= {t["reason"] for t in terminated}
    waiting = {s["waiting"]["reason"] for s in steps if "waiting" in s}
    assert waiting & {"ImagePullBackOff", "ErrImagePull"}
    retried = [tr for tr in history.task_runs if tr["status"].get("retriesStatus")]
    assert any(tr["status"]["conditions"][0]["status"] == "True" for tr in retried), "a retry that passes"
    assert any(tr["status"]["conditions"][0]["status"] == "False" for tr in retried), "retries that all fail"
