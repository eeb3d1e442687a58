"""The flakiness, failure-cause and supply-chain marts find exactly what the generator injected.

One 30-day history of 40 pipelines (`etl.synth.generate`, seed 1) goes through the real path: the raw layer's file
import into `raw.tekton_objects`, then `dbt build` of these marts and everything they depend on (with their
generic data tests). Each mart is then compared with `ground_truth.json` (schema in `etl.synth.truth`).
Retry passes are also derived independently from the objects' `retriesStatus` (see `_retry_passes`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from etl.build import invoke_dbt
from etl.config import WarehousePaths
from etl.files.importer import import_files
from etl.synth import generate
from tests.helpers.warehouse import query_dicts
from tests.marts.conftest import MARTS

pytestmark = pytest.mark.slow

Row = dict[str, Any]


@dataclass(frozen=True)
class BuiltHistory:
    db_path: Path
    objects_path: Path
    truth: dict[str, Any]

    def rows(self, sql: str) -> list[Row]:
        return query_dicts(self.db_path, sql)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltHistory:
    root = tmp_path_factory.mktemp("marts_truth")
    history = root / "history"
    generate(history, days=30, pipelines=40, seed=1, fmt="ndjson")
    paths = WarehousePaths(root / "home").ensure()
    import_files(paths, [history / "objects.ndjson"])
    invoke_dbt(
        paths.warehouse_db,
        # cautious: only tests whose every parent is built (a test of another mart that also refs a parent of
        # ours, e.g. fct_run_values -> fct_pipeline_runs, would read a table this build does not create).
        [
            "build",
            "--select",
            *[f"+{mart}" for mart in MARTS],
            "--exclude",
            "test_type:unit",
            "--indirect-selection",
            "cautious",
        ],
        target_dir=root / "dbt" / "target",
        log_dir=root / "dbt" / "logs",
    )
    truth = json.loads((history / "ground_truth.json").read_text())
    return BuiltHistory(paths.warehouse_db, history / "objects.ndjson", truth)


def _retry_passes(objects_path: Path) -> set[str]:
    """uids of succeeded TaskRuns of a PipelineRun with a failed earlier attempt, read straight from the objects.

    A `retriesStatus` entry is a TaskRunStatus: its conditions sit at its top level.
    """
    found = set()
    with objects_path.open() as handle:
        for line in handle:
            obj = json.loads(line)
            status, labels = obj.get("status", {}), obj["metadata"].get("labels") or {}
            if obj["kind"] != "TaskRun" or "tekton.dev/pipelineTask" not in labels:
                continue
            if _succeeded(status) != "True":
                continue
            if any(_succeeded(entry) == "False" for entry in status.get("retriesStatus") or []):
                found.add(obj["metadata"]["uid"])
    return found


def _succeeded(status: dict[str, Any]) -> str | None:
    return next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Succeeded"), None
    )


def _evidence_key(row: Row) -> tuple[Any, ...]:
    return (
        row["namespace"],
        row["pipeline_name"],
        row["pipeline_task"],
        row["failed_uid"],
        row["passing_uid"],
        row["commit_sha"],
        row["kind"],
    )


def test_generic_data_tests_ran_on_the_history(built: BuiltHistory) -> None:
    tables = {r["table_name"] for r in built.rows("select table_name from information_schema.tables")}
    assert set(MARTS) <= tables
    assert built.rows("select count(*) as n from marts.fct_flaky_evidence")[0]["n"] > 0


def test_same_commit_and_rerun_evidence_is_exactly_the_truth(built: BuiltHistory) -> None:
    truth = Counter(_evidence_key(e) for e in built.truth["flaky_evidence"] if e["kind"] != "retry_pass")
    mine = Counter(
        _evidence_key(r)
        for r in built.rows("select * from marts.fct_flaky_evidence where kind <> 'retry_pass'")
    )
    assert {kind for *_, kind in truth} == {"same_commit", "rerun_pass"}
    assert mine == truth


def test_retry_pass_evidence_is_every_succeeded_retried_task_run(built: BuiltHistory) -> None:
    expected = _retry_passes(built.objects_path)
    rows = built.rows("select * from marts.fct_flaky_evidence where kind = 'retry_pass'")
    mine = {r["failed_uid"] for r in rows}
    truth = {uid for t in built.truth["flaky_tasks"] for uid in t["retry_passes"]}
    assert len(expected) > 0
    assert mine == expected
    assert truth <= mine
    assert all(r["failed_uid"] == r["passing_uid"] for r in rows)


def test_flaky_tasks_are_exactly_the_injected_ones(built: BuiltHistory) -> None:
    retried_uids = _retry_passes(built.objects_path)
    retried = defaultdict(set)
    for row in built.rows("select * from marts.fct_task_runs where status = 'succeeded'"):
        if row["task_run_uid"] in retried_uids:
            retried[(row["namespace"], row["pipeline_name"], row["pipeline_task"])].add(row["task_run_uid"])
    truth = {(t["namespace"], t["pipeline_name"], t["pipeline_task"]): t for t in built.truth["flaky_tasks"]}
    expected_flaky = {key for key, t in truth.items() if t["flaky_failures"] or t["retry_passes"]} | set(
        retried
    )
    rows = {
        (r["namespace"], r["pipeline_name"], r["pipeline_task"]): r
        for r in built.rows("select * from marts.fct_flaky_tasks")
    }

    assert {key for key, r in rows.items() if r["is_flaky"]} == expected_flaky
    for key in expected_flaky:
        row = rows[key]
        assert row["flaky_failures"] == (len(truth[key]["flaky_failures"]) if key in truth else 0)
        assert row["retry_passes"] == len(retried[key])
        if key in truth:
            assert (row["runs"], row["failures"]) == (truth[key]["runs"], truth[key]["failures"])
    injected_with_retries = {key for key, t in truth.items() if t["rate"] and t["retries"] and t["runs"]}
    assert injected_with_retries <= expected_flaky


def test_flaky_pipelines_match_the_truth_counts(built: BuiltHistory) -> None:
    truth = {(p["namespace"], p["pipeline_name"]): p for p in built.truth["pipelines"] if p["counted_runs"]}
    rows = {
        (r["namespace"], r["pipeline_name"]): r for r in built.rows("select * from marts.fct_flaky_pipelines")
    }

    assert set(rows) == set(truth)
    for key, expected in truth.items():
        row = rows[key]
        assert (row["runs"], row["failures"], row["flaky_failures"]) == (
            expected["counted_runs"],
            expected["failures"],
            expected["flaky_failures"],
        ), key
        assert row["is_flaky"] == (expected["flaky_failures"] > 0)
    assert any(row["is_flaky"] for row in rows.values())


def test_failure_causes_match_the_truth(built: BuiltHistory) -> None:
    rows = built.rows("select run_kind, cause, count(*) as n from marts.fct_failures group by all")
    mine: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        mine[row["run_kind"]][row["cause"]] = row["n"]
    truth = built.truth["counts"]["failure_causes_by_kind"]
    assert {kind: dict(causes) for kind, causes in mine.items()} == {k: v for k, v in truth.items() if v}


def test_artifacts_are_exactly_the_truth(built: BuiltHistory) -> None:
    truth = Counter(
        (a["digest"], a["producer_run_uid"], a["uri"], a["kind"], a["repo_url"], a["commit_sha"], a["signed"])
        for a in built.truth["artifacts"]
    )
    mine = Counter(
        (
            r["artifact_digest"],
            r["producer_run_uid"],
            r["artifact_uri"],
            r["artifact_kind"],
            r["repo_url"],
            r["commit_sha"],
            r["is_signed"],
        )
        for r in built.rows("select * from marts.fct_artifacts")
    )
    assert len(truth) > 0
    assert mine == truth


def test_artifacts_per_commit_and_provenance(built: BuiltHistory) -> None:
    per_commit: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"digests": set(), "producers": set(), "signed": True}
    )
    for entry in built.truth["artifacts_by_commit"]:
        commit = per_commit[(entry["repo_url"], entry["commit_sha"])]
        commit["digests"].update(entry["digests"])
        commit["producers"].update(entry["producer_run_uids"])
        commit["signed"] = commit["signed"] and entry["signed"]
    produced = defaultdict(set)
    producers = defaultdict(set)
    for row in built.rows("select * from marts.fct_artifacts"):
        produced[(row["repo_url"], row["commit_sha"])].add(row["artifact_digest"])
        producers[(row["repo_url"], row["commit_sha"])].add(row["producer_run_uid"])
    chains = {
        (r["repo_url"], r["commit_sha"]): r
        for r in built.rows("select * from marts.fct_supply_chains where artifacts > 0")
    }

    assert {key: value["digests"] for key, value in per_commit.items()} == dict(produced)
    assert {key: value["producers"] for key, value in per_commit.items()} == dict(producers)
    assert set(chains) == set(per_commit)
    for key, expected in per_commit.items():
        assert chains[key]["artifacts"] == len(expected["digests"])
        assert chains[key]["provenance_complete"] == expected["signed"], key


def test_downstream_consumers_are_the_runs_whose_params_carry_the_digest(built: BuiltHistory) -> None:
    truth = {digest: sorted(uids) for digest, uids in built.truth["downstream"].items() if uids}
    mine: dict[str, list[str]] = defaultdict(list)
    for row in built.rows(
        "select source_id, target_id from marts.fct_lineage_edges where relation = 'consumed_by' order by all"
    ):
        mine[row["source_id"]].append(row["target_id"])
    assert len(truth) > 0
    assert dict(mine) == truth


def test_rerun_edges_match_the_truth(built: BuiltHistory) -> None:
    truth = {(r["original_uid"], r["rerun_uid"]) for r in built.truth["reruns"] if r["original_uid"]}
    mine = {
        (r["source_id"], r["target_id"])
        for r in built.rows("select * from marts.fct_lineage_edges where relation = 'rerun_as'")
    }
    assert len(truth) > 0
    assert mine == truth
