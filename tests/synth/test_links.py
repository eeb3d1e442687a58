"""Parent/child links, Results record names and the order of both files."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from tests.synth.conftest import History

SEGMENT = r"[a-z0-9_-]{1,63}"
RECORD_NAME = re.compile(rf"^({SEGMENT})/results/({SEGMENT})/records/({SEGMENT})$")


def test_every_child_points_to_an_emitted_pipeline_run_in_its_namespace(history: History) -> None:
    prs = {pr["metadata"]["uid"]: pr for pr in history.pipeline_runs}
    children = [tr for tr in history.task_runs if history.parent_uid(tr)]
    assert children
    for tr in children:
        md, labels = tr["metadata"], tr["metadata"]["labels"]
        parent = prs[history.parent_uid(tr)]
        assert parent["metadata"]["namespace"] == md["namespace"]
        for owner in md.get("ownerReferences", []):
            assert owner["kind"] == "PipelineRun" and owner["name"] == parent["metadata"]["name"]
        assert labels.get("tekton.dev/pipelineRun", parent["metadata"]["name"]) == parent["metadata"]["name"]
        assert labels.get("tekton.dev/pipelineRunUID", parent["metadata"]["uid"]) == parent["metadata"]["uid"]
        assert labels["tekton.dev/pipeline"] == parent["metadata"]["labels"]["tekton.dev/pipeline"]
        assert labels["tekton.dev/memberOf"] in ("tasks", "finally")
        assert labels["tekton.dev/pipelineTask"]
        assert tr["apiVersion"] == parent["apiVersion"]


def test_children_link_by_owner_and_labels_and_sometimes_only_one(history: History) -> None:
    children = [tr for tr in history.task_runs if history.parent_uid(tr)]
    forms = Counter(
        ("ownerReferences" in tr["metadata"], "tekton.dev/pipelineRun" in tr["metadata"]["labels"])
        for tr in children
    )
    assert set(forms) == {(True, True), (False, True), (True, False)}
    assert forms[(True, True)] > 10 * (forms[(False, True)] + forms[(True, False)]) / 2


def test_child_references_name_the_emitted_children(history: History) -> None:
    children_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for tr in history.task_runs:
        parent = history.parent_uid(tr)
        if parent:
            children_of[parent].add(
                (tr["metadata"]["name"], tr["metadata"]["labels"]["tekton.dev/pipelineTask"])
            )
    for pr in history.pipeline_runs:
        status = pr["status"]
        if "childReferences" in status:
            listed = {(c["name"], c["pipelineTaskName"]) for c in status["childReferences"]}
        else:
            listed = {(name, c["pipelineTaskName"]) for name, c in status.get("taskRuns", {}).items()}
        assert listed == children_of.get(pr["metadata"]["uid"], set())


def test_standalone_task_runs_have_no_pipeline_links(history: History) -> None:
    standalone = [tr for tr in history.task_runs if history.parent_uid(tr) is None]
    assert standalone
    for tr in standalone:
        assert "tekton.dev/pipelineTask" not in tr["metadata"]["labels"]
    assert len(standalone) == history.truth["counts"]["standalone_task_runs"]


def _expected_result(obj: dict) -> str:
    """The watcher's rules, written out independently of the generator (tekton-results-api.md §4)."""
    md = obj["metadata"]
    annotation = md.get("annotations", {}).get("results.tekton.dev/result")
    if annotation:
        return annotation
    event_id = md.get("labels", {}).get("triggers.tekton.dev/triggers-eventid")
    if event_id:
        return f"{md['namespace']}/results/{event_id}"
    owners = [o for o in md.get("ownerReferences", []) if o["kind"] == "PipelineRun"]
    return f"{md['namespace']}/results/{owners[0]['uid'] if owners else md['uid']}"


def test_records_follow_the_watcher_naming_rules(history: History) -> None:
    assert len(history.records) == len(history.objects)
    server_uids = set()
    for record, obj in zip(history.records, history.objects, strict=True):
        assert record["data"] == obj
        assert RECORD_NAME.match(record["name"]), record["name"]
        assert record["name"] == f"{_expected_result(obj)}/records/{obj['metadata']['uid']}"
        assert record["type"] == f"{obj['apiVersion']}.{obj['kind']}"
        assert record["uid"] != obj["metadata"]["uid"]
        server_uids.add(record["uid"])
    assert len(server_uids) == len(history.records)
    event_results = [
        r
        for r in history.records
        if "triggers.tekton.dev/triggers-eventid" in r["data"]["metadata"]["labels"]
    ]
    assert event_results, "some records are grouped under a Triggers event id"


def test_record_times_follow_the_object(history: History) -> None:
    for record in history.records:
        obj = record["data"]
        assert record["create_time"][:19] >= obj["metadata"]["creationTimestamp"][:19]
        assert record["update_time"] >= record["create_time"]
        completed = obj["status"].get("completionTime")
        if completed:
            assert record["update_time"][:19] > completed[:19]
    late = [
        r
        for r in history.records
        if r["data"]["status"].get("completionTime")
        and r["update_time"][:16] > r["data"]["status"]["completionTime"][:16]
        and "chains.tekton.dev/signed" in r["data"]["metadata"]["annotations"]
    ]
    assert late, "Chains annotations arrive minutes after completion"


def test_both_files_are_in_creation_order(history: History) -> None:
    created = [o["metadata"]["creationTimestamp"] for o in history.objects]
    assert created == sorted(created)
