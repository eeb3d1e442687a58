"""The example pipelines in tekton/examples publish exactly what the supply-chain marts read.

The runs below are built from the example YAML itself (its result names, params, tasks, trigger template), as
Tekton, Triggers and Chains would record them; the marts must draw the full lineage from them. Renaming a result in
an example, or a mart that stops reading one, fails this test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tekton_objects import pipeline_run, task_run
from tests.helpers.warehouse import make_raw_warehouse, query, query_dicts, run_dbt_build
from tests.tekton.test_manifests import examples

REPO = "https://github.com/example/shop"
COMMIT = "4f2a9c0d1e3b5a7c9e1f3a5b7c9d1e3f5a7b9c1d"
IMAGE = "registry.example.com/ci/shop"
DIGEST = "sha256:" + "ab" * 32
COMMIT_AT = "2026-05-01T09:58:00Z"
EVENT_ID = "6d1c0a56-2a1b-4c3d-9e8f-0a1b2c3d4e5f"
BUILD_UID, SCAN_UID = "00000000-0000-4000-8000-0000000000b1", "00000000-0000-4000-8000-0000000000c1"

TASK_RESULT_VALUES = {
    "url": REPO,
    "commit": COMMIT,
    "REPO_URL": REPO,
    "REPO_COMMIT": COMMIT,
    "COMMIT_AUTHOR": "Dana Developer",
    "COMMIT_AUTHOR_EMAIL": "dana@example.com",
    "COMMIT_MESSAGE": "Add checkout retries",
    "COMMIT_TIMESTAMP": COMMIT_AT,
    "TRIGGER": "push",
    "IMAGE_URL": IMAGE,
    "IMAGE_DIGEST": DIGEST,
    "ARTIFACT_INPUTS": {"uri": IMAGE, "digest": DIGEST},
    "VULNERABILITIES": "0",
}


def _task_results(task: dict[str, Any]) -> dict[str, Any]:
    return {r["name"]: TASK_RESULT_VALUES[r["name"]] for r in task["spec"].get("results", [])}


def _pipeline_results(pipeline: dict[str, Any], by_task: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Resolve `$(tasks.T.results.R)` the way the Tekton controller does when the run succeeds."""
    resolved = {}
    for result in pipeline["spec"].get("results", []):
        task_name, _, name = result["value"].removeprefix("$(tasks.").rstrip(")").partition(".results.")
        resolved[result["name"]] = by_task[task_name][name.removesuffix("[*]")]
    return resolved


def _run_of(
    pipeline_name: str, uid: str, params: dict[str, Any], labels: dict[str, str], minute: int
) -> list[dict]:
    """A succeeded PipelineRun of an example Pipeline and one succeeded TaskRun per pipeline task."""
    pipeline, tasks = examples("Pipeline")[pipeline_name], examples("Task")
    by_task = {t["name"]: _task_results(tasks[t["taskRef"]["name"]]) for t in pipeline["spec"]["tasks"]}
    run = pipeline_run(
        uid,
        f"{pipeline_name}-x{minute}",
        namespace="ci",
        created=f"2026-05-01T10:{minute:02d}:00Z",
        started=f"2026-05-01T10:{minute:02d}:02Z",
        completed=f"2026-05-01T10:{minute + 5:02d}:00Z",
        pipeline_ref=pipeline_name,
        labels={"tekton.dev/pipeline": pipeline_name, **labels},
        annotations={"chains.tekton.dev/signed": "true"},
        params=params,
        results=_pipeline_results(pipeline, by_task),
    )
    children = [
        task_run(
            f"{uid[:-4]}{uid[-2:]}{index:02d}",
            f"{run['metadata']['name']}-{t['name']}",
            namespace="ci",
            pipeline_run=run,
            pipeline_task=t["name"],
            task=t["taskRef"]["name"],
            created=f"2026-05-01T10:{minute:02d}:03Z",
            started=f"2026-05-01T10:{minute:02d}:04Z",
            completed=f"2026-05-01T10:{minute + 4:02d}:00Z",
            results=by_task[t["name"]],
            annotations={"chains.tekton.dev/signed": "true"},
        )
        for index, t in enumerate(pipeline["spec"]["tasks"], start=10)
    ]
    return [run, *children]


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [template] = examples("TriggerTemplate").values()
    [resource] = template["spec"]["resourcetemplates"]
    bound = {"repo-url": REPO, "revision": COMMIT, "repo-name": "shop"}
    build_params = {}
    for param in resource["spec"]["params"]:
        value = param["value"]
        for name, bound_value in bound.items():
            value = value.replace(f"$(tt.params.{name})", bound_value)
        build_params[param["name"]] = value
    [listener] = examples("EventListener").values()
    triggers_labels = {
        "triggers.tekton.dev/eventlistener": listener["metadata"]["name"],
        "triggers.tekton.dev/trigger": listener["spec"]["triggers"][0]["name"],
        "triggers.tekton.dev/triggers-eventid": EVENT_ID,
    }
    objects = _run_of("build-and-push", BUILD_UID, build_params, triggers_labels, minute=0)
    objects += _run_of("scan-image", SCAN_UID, {"image": f"{IMAGE}@{DIGEST}"}, {}, minute=20)

    db = tmp_path_factory.mktemp("example-lineage") / "warehouse.duckdb"
    make_raw_warehouse(db, objects)
    run_dbt_build(db, select=["+fct_lineage_edges", "+fct_supply_chains"], command="run")
    return db


def test_build_run_carries_code_source_and_trigger(marts: Path) -> None:
    [run] = query_dicts(
        marts, "select * from marts.fct_pipeline_runs where pipeline_run_uid = ?", [BUILD_UID]
    )
    assert (run["repo_url"], run["commit_sha"]) == (REPO, COMMIT)
    assert (run["event_listener"], run["trigger_name"], run["trigger_event_id"]) == (
        "github",
        "github-push",
        EVENT_ID,
    )
    assert run["pipeline_name"] == "build-and-push" and run["is_signed"] is True


def test_example_lineage_edges(marts: Path) -> None:
    edges = set(
        query(
            marts,
            "select source_kind, source_id, relation, target_kind, target_id from marts.fct_lineage_edges",
        )
    )
    assert ("commit", f"{REPO}@{COMMIT}", "triggers", "pipeline_run", BUILD_UID) in edges
    assert ("event", EVENT_ID, "triggers", "pipeline_run", BUILD_UID) in edges
    assert ("pipeline_run", BUILD_UID, "produces", "artifact", DIGEST) in edges
    assert ("artifact", DIGEST, "consumed_by", "pipeline_run", SCAN_UID) in edges
    contained = {e[4] for e in edges if e[:4] == ("pipeline_run", BUILD_UID, "contains", "task_run")}
    assert len(contained) == len(examples("Pipeline")["build-and-push"]["spec"]["tasks"])


def test_example_supply_chain_row(marts: Path) -> None:
    [chain] = query_dicts(
        marts, "select * from marts.fct_supply_chains where repo_url = ? and commit_sha = ?", [REPO, COMMIT]
    )
    assert chain["artifacts"] == 1 and chain["signed_artifacts"] == 1
    assert chain["downstream_runs"] == 1 and chain["downstream_failing"] == 0
    assert chain["provenance_complete"] is True
    assert chain["lead_time_s"] == pytest.approx(7 * 60)  # COMMIT_TIMESTAMP 09:58 -> build completed 10:05
