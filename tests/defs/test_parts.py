"""The orchestration's own logic, piece by piece: source-restricted configs, checks on hand-made raw tables,
schedule settings, the dbt manifest freshness rule, and the summary asset's delivery check."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from etl.config import ClusterConfig, KubernetesSource, ResultsSource, SourcesConfig, WarehousePaths
from etl.defs.dbt.resources import manifest_is_current
from etl.defs.ingestion import (
    ClusterOutcome,
    config_for_source,
    freshness_check,
    reconciliation_check,
    rejects_ratio_check,
)
from etl.defs.resources import WarehouseResource
from etl.defs.settings import INGEST_CRON_ENV, SUMMARY_TIME_ENV, ingest_cron, summary_time_utc
from etl.defs.summary.assets import daily_summary
from etl.errors import ConfigError
from tests.summary.marts_builder import DAY, MartsBuilder
from tests.summary.receiver import http_receiver
from tests.summary.test_report import _history


def _outcome(cluster: str, **counts: int) -> ClusterOutcome:
    values = {"fetched": 0, "loaded": 0, "rejected": 0, "missing": 0, "server_total": 0, **counts}
    return ClusterOutcome(cluster, [], None, False, **values)


def test_a_source_asset_sees_only_the_clusters_that_have_its_source() -> None:
    config = SourcesConfig(
        clusters=[
            ClusterConfig(name="a", results=ResultsSource(url="a:1"), kubernetes=KubernetesSource()),
            ClusterConfig(name="b", kubernetes=KubernetesSource()),
            ClusterConfig(name="c", results=ResultsSource(url="c:1")),
        ]
    )
    results = config_for_source(config, "results")
    assert [(c.name, c.results is not None, c.kubernetes) for c in results.clusters] == [
        ("a", True, None),
        ("c", True, None),
    ]
    kube = config_for_source(config, "kubernetes")
    assert [(c.name, c.results) for c in kube.clusters] == [("a", None), ("b", None)]
    assert len(config.clusters[0].model_dump(exclude_none=True)) == 3  # the original is untouched


def test_freshness_fails_for_stale_and_never_ingested_clusters(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "create schema raw; create table raw.ingestion_log (cluster varchar, source varchar, kind varchar, "
        "finished_at timestamptz, status varchar)"
    )
    rows = [
        ("fresh", "results", "PipelineRun", now - timedelta(minutes=5), "ok"),
        ("fresh", "results", "TaskRun", now - timedelta(minutes=6), "ok"),
        # one kind failing recently and succeeding long ago: the cluster is as stale as that kind
        ("half", "results", "PipelineRun", now - timedelta(minutes=5), "ok"),
        ("half", "results", "TaskRun", now - timedelta(hours=5), "ok"),
        ("half", "results", "TaskRun", now - timedelta(minutes=5), "failed"),
        ("other", "kubernetes", "PipelineRun", now, "ok"),
    ]
    con.executemany("insert into raw.ingestion_log values (?, ?, ?, ?, ?)", rows)
    result = freshness_check(con, "results", ["fresh", "half", "never"], timedelta(hours=2))
    assert not result.passed
    assert result.description.startswith("stale: half (last success ")
    assert "never (last success never)" in result.description and "fresh" not in result.description
    assert freshness_check(con, "results", ["fresh"], timedelta(hours=2)).passed


def test_rejects_ratio_and_reconciliation_thresholds() -> None:
    assert rejects_ratio_check([_outcome("a", fetched=1000, rejected=10)], 0.01).passed
    assert not rejects_ratio_check([_outcome("a", fetched=1000, rejected=11)], 0.01).passed
    assert rejects_ratio_check([], 0.01).passed
    short = reconciliation_check(
        [_outcome("a", server_total=100, missing=3), _outcome("b", server_total=5)], 0.0
    )
    assert not short.passed and short.description == "a: 3 record(s) on the server missing from the warehouse"
    assert reconciliation_check([_outcome("a", server_total=100, missing=3)], 0.05).passed


def test_schedule_settings_come_from_env_or_config_and_bad_ones_are_clear(
    warehouse_home: WarehousePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SUMMARY_TIME_ENV, raising=False)
    monkeypatch.delenv(INGEST_CRON_ENV, raising=False)
    warehouse_home.default_config_file.write_text("summary_time_utc: '07:45'\ningest_cron: '*/5 * * * *'\n")
    assert summary_time_utc() == (7, 45)
    assert ingest_cron() == "*/5 * * * *"
    monkeypatch.setenv(SUMMARY_TIME_ENV, "6:30")
    assert summary_time_utc() == (6, 30)
    monkeypatch.setenv(SUMMARY_TIME_ENV, "25:00")
    with pytest.raises(ConfigError, match="write it as HH:MM"):
        summary_time_utc()
    monkeypatch.setenv(INGEST_CRON_ENV, "every quarter hour")
    with pytest.raises(ConfigError, match="not a valid cron expression"):
        ingest_cron()


def test_the_manifest_is_stale_when_any_project_file_is_newer(tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    model = project / "models" / "m.sql"
    model.write_text("select 1")
    manifest = tmp_path / "target" / "manifest.json"
    assert not manifest_is_current(manifest, project)
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(model, (1_000_000, 1_000_000))
    assert manifest_is_current(manifest, project)
    (project / "target").mkdir()
    (project / "target" / "x.yml").write_text("")  # dbt's own output folder does not count
    os.utime(manifest, (2_000_000, 2_000_000))
    assert manifest_is_current(manifest, project)
    model.write_text("select 2")
    assert not manifest_is_current(manifest, project)


def test_a_failing_channel_fails_the_delivered_check_but_the_summary_is_materialized(
    warehouse_home: WarehousePaths, marts: MartsBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(marts)
    marts.write(warehouse_home.serving_db)
    monkeypatch.setattr("etl.summary.delivery.BACKOFF_BASE_S", 0.01)
    with http_receiver(default_status=503) as hook:
        monkeypatch.setenv("TEST_SUMMARY_HOOK", hook.url)
        warehouse_home.default_config_file.write_text(
            "delivery:\n  webhook:\n    url: {env: TEST_SUMMARY_HOOK}\n    retries: 1\n"
        )
        result = dg.materialize(
            [daily_summary],
            partition_key=DAY.isoformat(),
            resources={"warehouse": WarehouseResource(home=str(warehouse_home.home))},
            raise_on_error=False,
        )
    assert result.success
    assert [m.partition for m in result.get_asset_materialization_events()] == [DAY.isoformat()]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "delivered" and not check.passed
    assert check.description.startswith("delivery failed for webhook: HTTP 503 after 2 attempt(s)")
    assert "TEST_SUMMARY_HOOK" not in hook.url and hook.url.split("/", 3)[3] not in check.description
    assert len(hook.requests) == 2
    assert (warehouse_home.daily_reports_dir / f"{DAY}.json").exists()
