"""The whole pipeline through Dagster, against the local Tekton Results server on a loopback port.

A generated history (with its ground truth) is served over gRPC; `materialize_runs` runs ingest → dbt → publish →
summary into the warehouse's own Dagster instance. The summary is checked against the ground truth, a second run
must change nothing, and a source with a wrong token must fail its check and fire the run-failure alert.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from etl.config import CONFIG_ENV, HOME_ENV, WarehousePaths
from etl.defs.resources import WarehouseResource
from etl.defs.summary.sensors import run_failure_alert
from etl.orchestrate import INGEST_JOB, MaterializeOutcome, materialize_runs
from etl.results_server.server import start_server
from etl.summary import build_summary
from etl.synth import generate
from etl.synth.derive import pipeline_name, run_status
from tests.summary.receiver import http_receiver

pytestmark = pytest.mark.slow

TOKEN_ENV = "TEST_RESULTS_TOKEN"
TOKEN = "local-results-token"


def _sources_yaml(address: str, extra: str = "") -> str:
    return (
        "clusters:\n"
        "  - name: default\n"
        "    results:\n"
        f"      url: {address}\n"
        "      plaintext: true\n"
        f"      token: {{env: {TOKEN_ENV}}}\n" + extra
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history")
    generate(out, days=10, pipelines=6, runs_per_day=3, seed=3)
    return out


@pytest.fixture(scope="module")
def results_server(history: Path) -> Iterator[str]:
    server = start_server(history, token=TOKEN)
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, results_server: str, definitions: dg.Definitions
) -> Iterator[tuple[WarehousePaths, MaterializeOutcome]]:
    paths = WarehousePaths(tmp_path_factory.mktemp("warehouse")).ensure()
    paths.default_config_file.write_text(_sources_yaml(results_server))
    patch = pytest.MonkeyPatch()
    for name in (HOME_ENV, CONFIG_ENV, "DAGSTER_HOME"):
        patch.delenv(name, raising=False)
    patch.setenv(TOKEN_ENV, TOKEN)
    try:
        yield paths, materialize_runs(paths)
    finally:
        patch.undo()


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return [event.dagster_event.event_specific_data for event in events]


def _row_counts(db: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in "
            f"({', '.join('?' for _ in schemas)}) order by 1, 2",
            list(schemas),
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from {s}."{t}"').fetchone()[0] for s, t in tables}


def _pipeline_run_statuses_by_day(history: Path) -> dict[date, Counter]:
    """Terminal PipelineRuns per summary day, straight from the generated objects (not through our code)."""
    by_day: dict[date, Counter] = {}
    with (history / "objects.ndjson").open() as lines:
        for line in lines:
            obj = json.loads(line)
            if obj["kind"] != "PipelineRun":
                continue
            status = run_status(obj)
            if status not in ("succeeded", "failed", "timed_out", "cancelled"):
                continue
            stamp = obj["status"].get("completionTime") if obj["status"].get("startTime") else None
            stamp = stamp or obj["metadata"]["creationTimestamp"]
            day = datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
            by_day.setdefault(day, Counter())[status] += 1
    return by_day


def _pipeline_durations_by_day(history: Path) -> dict[tuple[str, str], list[tuple[date, float]]]:
    """(namespace, pipeline) -> [(completion day, duration)] for terminal PipelineRuns that started."""
    runs: dict[tuple[str, str], list[tuple[date, float]]] = {}
    with (history / "objects.ndjson").open() as lines:
        for line in lines:
            obj = json.loads(line)
            status = obj.get("status", {})
            if (
                obj["kind"] != "PipelineRun"
                or not status.get("startTime")
                or not status.get("completionTime")
            ):
                continue
            if run_status(obj) not in ("succeeded", "failed", "timed_out", "cancelled"):
                continue
            started, completed = (_utc(status[k]) for k in ("startTime", "completionTime"))
            key = (obj["metadata"]["namespace"], pipeline_name(obj))
            runs.setdefault(key, []).append((completed.date(), (completed - started).total_seconds()))
    return runs


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _p95(values: list[float]) -> float:
    """Continuous (linearly interpolated) 95th percentile, as DuckDB's quantile_cont."""
    ordered = sorted(values)
    position = 0.95 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _expected_increases(durations: dict, day: date) -> list[tuple[str, str, float, float]]:
    rows = []
    for (namespace, pipeline), runs in durations.items():
        today = [d for run_day, d in runs if run_day == day]
        before = [d for run_day, d in runs if day - timedelta(days=7) <= run_day < day]
        if today and before and _p95(today) > _p95(before):
            rows.append((namespace, pipeline, round(_p95(today), 3), round(_p95(before), 3)))
    rows.sort(key=lambda row: (-(row[2] - row[3]), row[0], row[1]))
    return rows[:10]


def test_one_materialization_is_green_with_every_check_passing(
    built: tuple[WarehousePaths, MaterializeOutcome],
) -> None:
    paths, outcome = built
    assert outcome.success and outcome.summary_day is not None
    with dg.DagsterInstance.from_config(str(paths.dagster_home)) as instance:
        for key in (["raw", "tekton_results"], ["marts", "fct_pipeline_runs"], ["serving", "tekton_duckdb"]):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
        summary_event = instance.get_latest_materialization_event(dg.AssetKey(["reports", "daily_summary"]))
        assert summary_event.dagster_event.partition == outcome.summary_day.isoformat()
        evaluations = [e for run_id in outcome.run_ids for e in _check_evaluations(instance, run_id)]
    names = {e.check_name for e in evaluations}
    assert {"fresh", "uids_unique", "rejects_ratio", "reconciled", "delivered"} <= names
    assert len(names) > 20  # the dbt tests came through as checks too
    assert [e.check_name for e in evaluations if not e.passed] == []
    assert (paths.daily_reports_dir / f"{outcome.summary_day}.html").exists()


def test_summary_agrees_with_the_ground_truth(
    built: tuple[WarehousePaths, MaterializeOutcome], history: Path
) -> None:
    paths, outcome = built
    truth = json.loads((history / "ground_truth.json").read_text())
    expected = _pipeline_run_statuses_by_day(history)[outcome.summary_day]
    summary = json.loads((paths.daily_reports_dir / f"{outcome.summary_day}.json").read_text())
    day = summary["runs"]["day"]
    assert {s: day[s] for s in ("succeeded", "failed", "timed_out", "cancelled") if day[s]} == dict(expected)

    # The injected duration regression: the p95 increases of its first days equal an independent computation
    # from the generated objects, and the regressed pipeline is among them.
    assert truth["regressions"], "the generated history should hold a duration regression"
    durations = _pipeline_durations_by_day(history)
    for regression in truth["regressions"]:
        regression_day = date.fromisoformat(regression["from_day"])
        found = set()
        for day_after in (regression_day, regression_day + timedelta(days=1)):
            increases = build_summary(paths, day_after).summary["duration_increases"]
            got = [
                (i["namespace"], i["pipeline_name"], i["p95_day_s"], i["p95_baseline_s"]) for i in increases
            ]
            assert got == _expected_increases(durations, day_after)
            found |= {(i["namespace"], i["pipeline_name"]) for i in increases}
        assert (regression["namespace"], regression["pipeline_name"]) in found

    # Injected failing streaks: every streak run is among its day's failing runs, and on the day a streak began,
    # a pipeline whose last decisive run that day failed is reported as regressed or still failing.
    assert truth["failing_streaks"], "the generated history should hold failing streaks"
    last_decisive = _last_decisive_run_by_day(history)
    for streak in truth["failing_streaks"]:
        by_day: dict[date, list[str]] = {}
        for uid in streak["run_uids"]:
            by_day.setdefault(last_decisive["day_of"][uid], []).append(uid)
        first_day = last_decisive["day_of"][streak["run_uids"][0]]
        for day_of_runs, uids in by_day.items():
            summary_of_day = build_summary(paths, day_of_runs).summary
            assert set(uids) <= set(summary_of_day["runs"]["failing_run_uids"])
            if day_of_runs != first_day:
                continue
            failing_now = (
                summary_of_day["regressions"]["regressed"] + summary_of_day["regressions"]["still_failing"]
            )
            listed = {(i["namespace"], i["pipeline_name"]) for i in failing_now}
            key = (streak["namespace"], streak["pipeline_name"])
            assert (key in listed) == (last_decisive["status"][(key, day_of_runs)] in ("failed", "timed_out"))


def _last_decisive_run_by_day(history: Path) -> dict:
    """From the objects: each PipelineRun's summary day, and per (pipeline, day) the status of the last decisive
    (succeeded / failed / timed out) run by order key."""
    day_of: dict[str, date] = {}
    newest: dict[tuple, tuple[str, str, str]] = {}
    with (history / "objects.ndjson").open() as lines:
        for line in lines:
            obj = json.loads(line)
            if obj["kind"] != "PipelineRun":
                continue
            status, meta = run_status(obj), obj["metadata"]
            if status not in ("succeeded", "failed", "timed_out", "cancelled"):
                continue
            started = obj["status"].get("startTime")
            stamp = (obj["status"].get("completionTime") if started else None) or meta["creationTimestamp"]
            day = _utc(stamp).date()
            day_of[meta["uid"]] = day
            if status == "cancelled":
                continue
            order = (_utc(started or meta["creationTimestamp"]).isoformat(), meta["uid"])
            key = ((meta["namespace"], pipeline_name(obj)), day)
            if key not in newest or order > newest[key][:2]:
                newest[key] = (*order, status)
    return {"day_of": day_of, "status": {key: value[2] for key, value in newest.items()}}


def test_a_second_materialization_changes_nothing(built: tuple[WarehousePaths, MaterializeOutcome]) -> None:
    paths, first = built
    counts_before = {**_row_counts(paths.warehouse_db, ("raw",)), **_row_counts(paths.serving_db, ("marts",))}
    counts_before.pop("raw.ingestion_log")  # one row per pull: the log grows by design
    summary_before = (paths.daily_reports_dir / f"{first.summary_day}.json").read_bytes()
    patch = pytest.MonkeyPatch()
    patch.setenv(TOKEN_ENV, TOKEN)
    try:
        second = materialize_runs(paths)
    finally:
        patch.undo()
    assert second.success and second.summary_day == first.summary_day
    counts_after = {**_row_counts(paths.warehouse_db, ("raw",)), **_row_counts(paths.serving_db, ("marts",))}
    counts_after.pop("raw.ingestion_log")
    assert counts_after == counts_before
    assert (paths.daily_reports_dir / f"{first.summary_day}.json").read_bytes() == summary_before


def test_a_wrong_token_fails_the_freshness_check_and_fires_the_alert(
    tmp_path: Path, results_server: str, definitions: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = WarehousePaths(tmp_path / "warehouse").ensure()
    monkeypatch.setenv(HOME_ENV, str(paths.home))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    with http_receiver() as alerts:
        monkeypatch.setenv("TEST_ALERT_WEBHOOK", alerts.url)
        paths.default_config_file.write_text(
            _sources_yaml(results_server, "delivery:\n  webhook:\n    url: {env: TEST_ALERT_WEBHOOK}\n")
        )
        instance = dg.DagsterInstance.ephemeral()
        result = definitions.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not result.success
        fresh = [e for e in result.get_asset_check_evaluations() if e.check_name == "fresh"]
        results_fresh = [e for e in fresh if e.asset_key == dg.AssetKey(["raw", "tekton_results"])]
        assert results_fresh and not results_fresh[0].passed
        assert "default (last success never)" in results_fresh[0].description

        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"warehouse": WarehouseResource()},
        ).for_run_failure()
        run_failure_alert(context)
    assert len(alerts.requests) == 1
    alert = alerts.requests[0].json()
    assert alert["job_name"] == INGEST_JOB and alert["run_id"] == result.run_id
    assert [step["step"] for step in alert["failed_steps"]] == ["raw__tekton_results"]
    assert "rejected" in alert["failed_steps"][0]["error"] and "not-the-token" not in json.dumps(alert)
