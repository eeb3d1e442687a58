"""Hand-made marts for the summary tests.

`MartsBuilder` writes a small `tekton.duckdb` with the mart tables and the columns the summary reads (names from
data-model.md). The aggregate and comparison marts are derived here with plain SQL from the hand-written runs, so the
tests state facts about runs and assert the summary's exact numbers, computed by hand in each test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

DAY = date(2026, 3, 10)


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A UTC time on DAY + day_offset."""
    base = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    return base + timedelta(days=day_offset, hours=hour, minutes=minute)


@dataclass
class MartsBuilder:
    pipeline_runs: list[tuple] = field(default_factory=list)
    task_runs: list[tuple] = field(default_factory=list)
    evidence: list[tuple] = field(default_factory=list)
    failures: list[tuple] = field(default_factory=list)
    artifacts: list[tuple] = field(default_factory=list)
    edges: list[tuple] = field(default_factory=list)

    def run(
        self,
        uid: str,
        pipeline: str,
        status: str,
        started: datetime | None,
        duration_s: float | None = 100.0,
        queue_s: float | None = 10.0,
        cluster: str = "c1",
        namespace: str = "team",
        created: datetime | None = None,
        completed: datetime | None = None,
        commit_sha: str | None = None,
    ) -> None:
        created = created or (started - timedelta(seconds=queue_s or 0))
        if completed is None and started is not None and duration_s is not None:
            completed = started + timedelta(seconds=duration_s)
        if started is None:
            duration_s = queue_s = None
        self.pipeline_runs.append(
            (cluster, namespace, uid, pipeline, status, created, started, completed, duration_s, queue_s,
             "https://git.example/org/repo", commit_sha)
        )  # fmt: skip

    def task_run(
        self,
        uid: str,
        pipeline_run_uid: str | None,
        pipeline: str | None,
        pipeline_task: str | None,
        status: str,
        started: datetime,
        duration_s: float = 30.0,
        failed_attempts: int = 0,
        cluster: str = "c1",
        namespace: str = "team",
    ) -> None:
        self.task_runs.append(
            (cluster, namespace, uid, pipeline_run_uid, pipeline, pipeline_task, status, started, started,
             started + timedelta(seconds=duration_s), duration_s, 0.0, failed_attempts)
        )  # fmt: skip

    def write(self, path: Path, slo_target: float = 0.99) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute("create schema marts")
            con.execute(
                """create table marts.fct_pipeline_runs (cluster varchar, namespace varchar, pipeline_run_uid varchar,
                pipeline_name varchar, status varchar, created_at timestamptz, started_at timestamptz,
                completed_at timestamptz, duration_s double, queue_s double, repo_url varchar, commit_sha varchar)"""
            )
            con.executemany(
                "insert into marts.fct_pipeline_runs values (?,?,?,?,?,?,?,?,?,?,?,?)", self.pipeline_runs
            )
            con.execute(
                """create table marts.fct_task_runs (cluster varchar, namespace varchar, task_run_uid varchar,
                pipeline_run_uid varchar, pipeline_name varchar, pipeline_task varchar, status varchar,
                created_at timestamptz, started_at timestamptz, completed_at timestamptz, duration_s double,
                queue_s double, failed_attempts integer)"""
            )
            if self.task_runs:
                con.executemany(
                    "insert into marts.fct_task_runs values (?,?,?,?,?,?,?,?,?,?,?,?,?)", self.task_runs
                )
            con.execute(
                """create table marts.fct_flaky_evidence (cluster varchar, namespace varchar, pipeline_name varchar,
                pipeline_task varchar, failed_uid varchar, passing_uid varchar, commit_sha varchar, kind varchar)"""
            )
            if self.evidence:
                con.executemany(
                    "insert into marts.fct_flaky_evidence values (?,?,?,?,?,?,?,?)", self.evidence
                )
            con.execute(
                """create table marts.fct_failures (cluster varchar, namespace varchar, run_uid varchar,
                run_kind varchar, pipeline_name varchar, cause varchar)"""
            )
            if self.failures:
                con.executemany("insert into marts.fct_failures values (?,?,?,?,?,?)", self.failures)
            con.execute(
                """create table marts.fct_artifacts (artifact_digest varchar, producer_run_uid varchar,
                cluster varchar, namespace varchar, pipeline_name varchar, repo_url varchar, commit_sha varchar,
                produced_at timestamptz, is_signed boolean)"""
            )
            if self.artifacts:
                con.executemany("insert into marts.fct_artifacts values (?,?,?,?,?,?,?,?,?)", self.artifacts)
            con.execute(
                """create table marts.fct_lineage_edges (source_kind varchar, source_id varchar, target_kind varchar,
                target_id varchar, relation varchar, observed_at timestamptz)"""
            )
            if self.edges:
                con.executemany("insert into marts.fct_lineage_edges values (?,?,?,?,?,?)", self.edges)
            self._derive_aggregates(con, slo_target)

    @staticmethod
    def _derive_aggregates(con: duckdb.DuckDBPyConnection, slo_target: float) -> None:
        """agg_reliability_daily and fct_run_comparisons as data-model.md defines them, from the runs above."""
        con.execute(
            f"""
            create table marts.agg_reliability_daily as
            with runs as (
                select *, cast(case when started_at is null then created_at else completed_at end as date) as day
                from marts.fct_pipeline_runs where status in ('succeeded', 'failed', 'timed_out', 'cancelled')
            )
            select day, count(*) as runs,
                count(*) filter (where status = 'succeeded') as succeeded,
                count(*) filter (where status = 'failed') as failed,
                count(*) filter (where status = 'timed_out') as timed_out,
                count(*) filter (where status = 'cancelled') as cancelled,
                succeeded / nullif(succeeded + failed + timed_out, 0) as success_rate,
                quantile_cont(duration_s, 0.95) as duration_p95_s,
                quantile_cont(queue_s, 0.95) as queue_p95_s,
                {slo_target} as slo_target,
                (1 - success_rate) / (1 - {slo_target}) as error_budget_burn
            from runs group by day
            """
        )
        con.execute(
            """
            create table marts.fct_run_comparisons as
            with ordered as (
                select cluster, namespace, pipeline_name, pipeline_run_uid, status,
                    lag(pipeline_run_uid) over w as previous_run_uid, lag(status) over w as previous_status
                from marts.fct_pipeline_runs
                where status in ('succeeded', 'failed', 'timed_out', 'cancelled')
                window w as (partition by cluster, namespace, pipeline_name
                             order by coalesce(started_at, created_at), pipeline_run_uid)
            )
            select *, case
                when previous_run_uid is null then 'first_run'
                when status = 'cancelled' or previous_status = 'cancelled' then 'other'
                when previous_status = 'succeeded' and status in ('failed', 'timed_out') then 'regressed'
                when previous_status in ('failed', 'timed_out') and status = 'succeeded' then 'recovered'
                when status = 'succeeded' then 'still_passing'
                else 'still_failing' end as transition
            from ordered
            """
        )
