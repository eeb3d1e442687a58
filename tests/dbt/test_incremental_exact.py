"""The incremental build gives exactly the tables of a `--full-refresh` build of the same raw layer.

A generated history is built, then two rounds of changes land in the raw layer the way ingest would land them
(newer resourceVersion): runs finishing late, status flips, runs moving in their pipeline's order, a run changing
pipeline, params and results changing, TaskRuns failing or moving to another parent, new runs (with their
TaskRuns, and a rerun) inserted between existing runs of existing pipelines, and a consumed image that its producers
stop producing (round 0) and produce again (round 1) while its consumers stay as they are. After each round the incremental build
must (a) really be incremental (a small affected set, not a rebuild) and (b) equal a full refresh row for row, for
every mart and every incremental intermediate model, in the working file and in the published file.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl.build import run_build
from etl.config import WarehousePaths
from etl.files.importer import import_files
from etl.synth import generate
from tests.dbt.conftest import CORE_SELECTION
from tests.helpers.warehouse import query

pytestmark = pytest.mark.slow

RESOURCE_VERSION_BUMP = 10_000_000


def _tables(db: Path, schemas: tuple[str, ...]) -> list[str]:
    listed = ", ".join(f"'{schema}'" for schema in schemas)
    rows = query(
        db,
        f"select schema_name || '.' || table_name from duckdb_tables() where schema_name in ({listed}) "
        "and table_name not in ('build_watermark', 'build_keyed_models', 'int_build__affected_runs', "
        "'int_lineage__node_changes', 'int_supply_chain__changed_digests', "
        "'int_run_comparisons__affected') "
        "order by 1",
    )
    return [row[0] for row in rows]


def _snapshot(
    db: Path, schemas: tuple[str, ...] = ("marts", "intermediate")
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a canonical order (the rows' own sort order)."""
    return {table: query(db, f"select * from {table} order by all") for table in _tables(db, schemas)}


def _load(history: Path) -> list[dict[str, Any]]:
    with (history / "objects.ndjson").open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _bump(obj: dict[str, Any]) -> dict[str, Any]:
    """A newer version of the object: ingest keeps the highest resourceVersion."""
    changed = copy.deepcopy(obj)
    meta = changed["metadata"]
    meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + RESOURCE_VERSION_BUMP)
    return changed


def _succeeded(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == "Succeeded":
            return condition
    return None


def _shift(text: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _terminal(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == kind
        and (_succeeded(o) or {}).get("status") in ("True", "False")
        and "startTime" in o["status"]
    ]


def _children(objects: list[dict[str, Any]], pipeline_run_uid: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == "TaskRun"
        and any(ref.get("uid") == pipeline_run_uid for ref in o["metadata"].get("ownerReferences", []))
    ]


def _clone_run(
    objects: list[dict[str, Any]], original: dict[str, Any], delta: timedelta
) -> Iterator[dict[str, Any]]:
    """A new run of the same pipeline (new uid and name) with its TaskRuns, `delta` after the original."""
    run = copy.deepcopy(original)
    meta = run["metadata"]
    new_uid, new_name = str(uuid.uuid4()), f"{meta['name']}-x{random.randrange(10**6)}"
    children = _children(objects, meta["uid"])
    meta.update(uid=new_uid, name=new_name, creationTimestamp=_shift(meta["creationTimestamp"], delta))
    for key in ("startTime", "completionTime"):
        if key in run["status"]:
            run["status"][key] = _shift(run["status"][key], delta)
    yield run
    for child in children:
        task_run = copy.deepcopy(child)
        child_meta = task_run["metadata"]
        child_meta.update(uid=str(uuid.uuid4()), name=f"{child_meta['name']}-x{random.randrange(10**6)}")
        child_meta["creationTimestamp"] = _shift(child_meta["creationTimestamp"], delta)
        child_meta["labels"]["tekton.dev/pipelineRun"] = new_name
        child_meta["labels"]["tekton.dev/pipelineRunUID"] = new_uid
        for ref in child_meta["ownerReferences"]:
            ref.update(uid=new_uid, name=new_name)
        for key in ("startTime", "completionTime"):
            if key in task_run["status"]:
                task_run["status"][key] = _shift(task_run["status"][key], delta)
        yield task_run


def _flip(obj: dict[str, Any]) -> None:
    condition = _succeeded(obj)
    assert condition is not None
    if condition["status"] == "True":
        condition.update(status="False", reason="Failed", message="flipped by the test")
    else:
        condition.update(status="True", reason="Succeeded", message="flipped by the test")


def _changes(
    objects: list[dict[str, Any]], pipelines: dict[str, tuple[str, str]], rng: random.Random
) -> list[dict[str, Any]]:
    """One round of late updates, changed runs and new runs of existing pipelines."""
    runs = _terminal(objects, "PipelineRun")
    task_runs = _terminal(objects, "TaskRun")
    picked = rng.sample(runs, 16)
    out: list[dict[str, Any]] = []
    for run in picked[0:4]:  # status flips (regressions / recoveries appear and vanish)
        changed = _bump(run)
        _flip(changed)
        out.append(changed)
    for run in picked[4:7]:  # moves within its pipeline's order
        changed = _bump(run)
        changed["status"]["startTime"] = _shift(changed["status"]["startTime"], timedelta(days=-2, hours=-3))
        out.append(changed)
    for run in picked[7:9]:  # back to running: leaves the comparisons and daily aggregates
        changed = _bump(run)
        _succeeded(changed).update(status="Unknown", reason="Running")  # type: ignore[union-attr]
        changed["status"].pop("completionTime", None)
        out.append(changed)
    for run in picked[9:11]:  # changes pipeline (to another pipeline of its namespace)
        namespace = run["metadata"]["namespace"]
        current = pipelines[run["metadata"]["uid"]][1]
        others = sorted({name for ns, name in pipelines.values() if ns == namespace and name != current})
        if others:
            changed = _bump(run)
            changed["metadata"].setdefault("labels", {})["tekton.dev/pipeline"] = rng.choice(others)
            out.append(changed)
    for run in picked[11:13]:  # params and results change
        changed = _bump(run)
        for param in changed["spec"].get("params", [])[:1]:
            param["value"] = f"changed-{rng.randrange(1000)}"
        changed["spec"].setdefault("params", []).append({"name": "added-by-test", "value": "x"})
        out.append(changed)
    for run in picked[13:15]:  # new runs between existing ones, with their TaskRuns
        out.extend(_clone_run(objects, run, timedelta(minutes=7)))
    rerun_of = picked[15]
    rerun = next(_clone_run(objects, rerun_of, timedelta(hours=1)))
    rerun["metadata"].setdefault("labels", {})["dashboard.tekton.dev/rerunOf"] = rerun_of["metadata"]["name"]
    out.append(rerun)
    for task_run in rng.sample(task_runs, 6):  # TaskRuns fail / recover, a failing step appears
        changed = _bump(task_run)
        _flip(changed)
        for step in changed["status"].get("steps", [])[:1]:
            if "terminated" in step:
                step["terminated"]["exitCode"] = 3 if step["terminated"].get("exitCode", 0) == 0 else 0
        out.append(changed)
    mover = _bump(rng.choice([t for t in task_runs if t["metadata"].get("ownerReferences")]))
    target = rng.choice([r for r in runs if r["metadata"]["namespace"] == mover["metadata"]["namespace"]])
    mover["metadata"]["labels"]["tekton.dev/pipelineRun"] = target["metadata"]["name"]
    mover["metadata"]["labels"]["tekton.dev/pipelineRunUID"] = target["metadata"]["uid"]
    for ref in mover["metadata"]["ownerReferences"]:
        ref.update(uid=target["metadata"]["uid"], name=target["metadata"]["name"])
    out.append(mover)  # moves to another parent: both parents' counts, tasks and comparisons change
    return out


DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _image_consumer(objects: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A produced image digest (the first in sorted order) and a new run that consumes it through a param: a copy
    of a PipelineRun (with its TaskRuns) that does not produce it. The small generated history has no deploy or
    scan pipelines of its own."""
    digest = min(d for o in objects for d in DIGEST.findall(json.dumps(o.get("status", {}))))
    runs = [r for r in _terminal(objects, "PipelineRun") if digest not in json.dumps(r)]
    consumer = list(_clone_run(objects, runs[0], timedelta(hours=3)))
    consumer[0]["spec"].setdefault("params", []).append(
        {"name": "image", "value": f"registry.example.com/app@{digest}"}
    )
    return digest, consumer


def _swap_produced_digest(
    objects: list[dict[str, Any]], changes: list[dict[str, Any]], old: str, new: str
) -> list[dict[str, Any]]:
    """`changes` plus every run whose results hold digest `old`, now holding `new`. The runs that consume `old`
    through their params are left as they are: only whether `old` is produced changes for them."""
    by_uid = {o["metadata"]["uid"]: o for o in changes}
    for obj in _merge(objects, changes):
        status = json.dumps(obj.get("status", {}))
        if old in status:
            uid = obj["metadata"]["uid"]
            changed = by_uid.get(uid) or _bump(obj)
            changed["status"] = json.loads(status.replace(old, new))
            by_uid[uid] = changed
    return list(by_uid.values())


def _consumers(db: Path, digest: str) -> int:
    return query(
        db,
        f"select count(*) from intermediate.int_supply_chain__consumptions where artifact_digest = '{digest}'",
    )[0][0]


def _land(paths: WarehousePaths, objects: list[dict[str, Any]], name: str) -> None:
    path = paths.home / f"{name}.ndjson"
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    report = import_files(paths, [path])
    assert report.counts.loaded == len(objects), report.summary()


def _pipelines(db: Path) -> dict[str, tuple[str, str]]:
    rows = query(db, "select pipeline_run_uid, namespace, pipeline_name from marts.fct_pipeline_runs")
    return {uid: (ns, name) for uid, ns, name in rows}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    base = tmp_path_factory.mktemp("incremental-exact")
    history = base / "history"
    generate(history, days=8, pipelines=12, runs_per_day=4.0, seed=11, fmt="ndjson")
    paths = WarehousePaths(base / "home").ensure()
    import_files(paths, [history / "objects.ndjson"])
    objects = _load(history)
    swapped, consumer = _image_consumer(objects)
    _land(paths, consumer, "consumer")
    objects = _merge(objects, consumer)
    # The whole project: every mart and incremental intermediate model of every area is compared.
    run_build(paths, full_refresh=True)
    rng = random.Random(5)
    replacement = f"sha256:{rng.getrandbits(256):064x}"
    consumers_before = _consumers(paths.warehouse_db, swapped)
    outcomes = []
    for index in range(2):
        changes = _changes(objects, _pipelines(paths.warehouse_db), rng)
        old, new = (swapped, replacement) if index == 0 else (replacement, swapped)
        changes = _swap_produced_digest(objects, changes, old, new)
        _land(paths, changes, f"round-{index}")
        objects = _merge(objects, changes)
        run_build(paths)
        consumers = (consumers_before, _consumers(paths.warehouse_db, swapped))
        affected = query(
            paths.warehouse_db,
            "select run_kind, count(*) from intermediate.int_build__affected_runs group by 1",
        )
        total = query(paths.warehouse_db, "select count(*) from staging.stg_tekton__pipeline_runs")[0][0]
        incremental = _snapshot(paths.warehouse_db)
        served = _snapshot(paths.serving_db, ("marts",))
        served_not_null = _not_null_columns(paths.serving_db)
        watermark = query(paths.warehouse_db, "select count(*) from intermediate.build_watermark")[0][0]
        run_build(paths, full_refresh=True)
        outcomes.append(
            {
                "affected": dict(affected),
                "swapped_digest_consumers": consumers,
                "pipeline_runs": total,
                "changes": len(changes),
                "incremental": incremental,
                "served": served,
                "watermark_rows": watermark,
                "full": _snapshot(paths.warehouse_db),
                "full_served": _snapshot(paths.serving_db, ("marts",)),
                "served_schemas": _schemas(paths.serving_db),
                "served_not_null": served_not_null,
                "declared_not_null": _declared_not_null(paths.dbt_target_dir / "manifest.json"),
            }
        )
    return outcomes


def _not_null_columns(db: Path) -> set[tuple[str, str]]:
    rows = query(
        db,
        "select table_name, unnest(constraint_column_names) from duckdb_constraints() "
        "where schema_name = 'marts' and constraint_type = 'NOT NULL'",
    )
    return set(rows)


def _declared_not_null(manifest: Path) -> set[tuple[str, str]]:
    """The marts' `not_null` contract constraints, as dbt parsed them from the YAML."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {
        (node["alias"], column["name"])
        for node in nodes
        if node["resource_type"] == "model" and node["schema"] == "marts"
        for column in node["columns"].values()
        for constraint in column.get("constraints", [])
        if constraint["type"] == "not_null"
    }


def _schemas(db: Path) -> list[str]:
    return [row[0] for row in query(db, "select distinct schema_name from duckdb_tables() order by 1")]


def _merge(objects: list[dict[str, Any]], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_uid = {o["metadata"]["uid"]: o for o in objects}
    by_uid.update({o["metadata"]["uid"]: o for o in changes})
    return list(by_uid.values())


@pytest.mark.parametrize("index", [0, 1])
def test_incremental_build_is_really_incremental(rounds: list[dict[str, Any]], index: int) -> None:
    outcome = rounds[index]
    assert outcome["watermark_rows"] == 1, "a successful build records its watermark"
    affected_runs = outcome["affected"].get("PipelineRun", 0)
    assert 0 < affected_runs < outcome["pipeline_runs"] / 3, outcome["affected"]
    assert outcome["affected"].get("TaskRun", 0) > 0


def test_the_rounds_stop_and_resume_producing_a_consumed_image(rounds: list[dict[str, Any]]) -> None:
    """The consumptions of an image whose producers changed, while its consumers did not: gone in round 0, back in
    round 1 (the tables are then compared with a full refresh like every other change)."""
    before, after_stop = rounds[0]["swapped_digest_consumers"]
    assert before > 0
    assert after_stop == 0
    assert rounds[1]["swapped_digest_consumers"][1] == before


@pytest.mark.parametrize("index", [0, 1])
def test_incremental_tables_equal_a_full_refresh_row_for_row(
    rounds: list[dict[str, Any]], index: int
) -> None:
    outcome = rounds[index]
    incremental, full = outcome["incremental"], outcome["full"]
    assert sorted(incremental) == sorted(full)
    assert {
        "marts.fct_pipeline_runs",
        "marts.fct_run_comparisons",
        "marts.fct_task_comparisons",
        "marts.fct_failures",
        "marts.fct_artifacts",
        "marts.fct_lineage_edges",
        "marts.fct_flaky_evidence",
    } <= set(full)
    for table in full:
        assert incremental[table] == full[table], f"{table} differs from a full refresh"


@pytest.mark.parametrize("index", [0, 1])
def test_published_marts_equal_a_full_refresh(rounds: list[dict[str, Any]], index: int) -> None:
    outcome = rounds[index]
    assert outcome["served"] == outcome["full_served"]
    assert outcome["served"] == {
        table: rows for table, rows in outcome["full"].items() if table.startswith("marts.")
    }
    assert outcome["served_schemas"] == ["marts"], "the build's bookkeeping is not served"
    assert outcome["served"]["marts.fct_pipeline_runs"], "the published file holds the marts"


@pytest.mark.parametrize("index", [0, 1])
def test_not_null_constraints_hold_in_the_served_file_after_incremental_builds(
    rounds: list[dict[str, Any]], index: int
) -> None:
    """Non-key `not_null` checks are contract constraints (DuckDB rejects a null at insert), not data tests: every
    one the YAML declares must be in the served tables, incremental ones included."""
    declared = rounds[index]["declared_not_null"]
    assert len(declared) > 40, "the marts declare their not_null constraints"
    assert declared <= rounds[index]["served_not_null"]


def test_partial_build_publishes_every_mart_of_the_working_marts_file(tmp_path: Path) -> None:
    """A --select build of one small mart: the served file still equals every mart of the working file."""
    base = tmp_path
    generate(base / "history", days=4, pipelines=6, runs_per_day=3.0, seed=2, fmt="ndjson")
    paths = WarehousePaths(base / "home").ensure()
    import_files(paths, [base / "history" / "objects.ndjson"])
    run_build(paths, select=CORE_SELECTION)
    objects = _load(base / "history")
    _land(paths, _changes(objects, _pipelines(paths.warehouse_db), random.Random(3))[:6], "late")
    before = _snapshot(paths.serving_db, ("marts",))
    run_build(paths, select=["agg_reliability_daily"])
    served = _snapshot(paths.serving_db, ("marts",))
    assert served == _snapshot(paths.warehouse_db, ("marts",))
    assert served["marts.fct_pipeline_runs"] == before["marts.fct_pipeline_runs"], "a mart it did not run"
