"""SQL over the marts that fills each section of the daily reliability summary.

Every function takes a read-only DuckDB connection on the serving file (TimeZone set to UTC) and a UTC day, and
returns plain JSON-ready values sorted deterministically, so the same marts always give byte-identical JSON. Each
item carries the run uids behind it. Nothing here interprets Tekton objects: statuses, transitions, evidence and
causes all come from the marts (data-model.md).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

BASELINE_DAYS = 7
TOP_ITEMS = 10
FAILING = ("failed", "timed_out")

# The day a run counts on, exactly as agg_pipeline_daily assigns it: completion date, or creation date for runs that
# never started.
_RUN_DAY = (
    "cast(case when started_at is null then created_at else coalesce(completed_at, created_at) end as date)"
)

# Terminal PipelineRuns with their summary day and order key; the base of most sections.
_TERMINAL_RUNS = f"""
    select
        cluster, namespace, pipeline_name, pipeline_run_uid, status, duration_s, queue_s, completed_at,
        coalesce(started_at, created_at) as order_at,
        {_RUN_DAY} as run_day
    from marts.fct_pipeline_runs
    where status in ('succeeded', 'failed', 'timed_out', 'cancelled')
"""

Row = dict[str, Any]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, params or [])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _rate(numerator: float | None, denominator: float | None) -> float | None:
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 6)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _burn(success_rate: float | None, slo_target: float) -> float | None:
    if success_rate is None or slo_target >= 1:
        return None
    return round((1 - success_rate) / (1 - slo_target), 6)


def _counts(row: Row | None) -> Row:
    """Counts for one day or window; success rate = succeeded / (succeeded + failed + timed_out)."""
    row = row or {}
    counts = {
        name: int(row.get(name) or 0) for name in ("runs", "succeeded", "failed", "timed_out", "cancelled")
    }
    decided = counts["succeeded"] + counts["failed"] + counts["timed_out"]
    counts["success_rate"] = _rate(counts["succeeded"], decided)
    return counts


def slo_target(con: duckdb.DuckDBPyConnection) -> float:
    """The SLO the marts were built with (dbt var slo_success_rate), read back from agg_reliability_daily."""
    row = con.execute("select max(slo_target) from marts.agg_reliability_daily").fetchone()
    return float(row[0]) if row and row[0] is not None else 0.99


def run_totals(con: duckdb.DuckDBPyConnection, day: date) -> Row:
    """Runs and success rate on D against the 7 days before it, error-budget burn, and a daily trend."""
    start = day - timedelta(days=BASELINE_DAYS)
    daily = _rows(
        con,
        """
        select day, runs, succeeded, failed, timed_out, cancelled, error_budget_burn
        from marts.agg_reliability_daily where day >= ? and day <= ? order by day
        """,
        [start, day],
    )
    by_day = {row["day"]: row for row in daily}
    baseline = _counts(
        {
            name: sum(int(row[name] or 0) for row in daily if row["day"] < day)
            for name in ("runs", "succeeded", "failed", "timed_out", "cancelled")
        }
    )
    today = _counts(by_day.get(day))
    target = slo_target(con)
    failing_uids = [
        row["pipeline_run_uid"]
        for row in _rows(
            con,
            f"select pipeline_run_uid from ({_TERMINAL_RUNS}) where run_day = ? and status in {FAILING} "
            "order by order_at, pipeline_run_uid",
            [day],
        )
    ]
    trend = []
    for offset in range(BASELINE_DAYS, -1, -1):
        trend_day = day - timedelta(days=offset)
        counts = _counts(by_day.get(trend_day))
        trend.append(
            {"day": trend_day.isoformat(), "runs": counts["runs"], "success_rate": counts["success_rate"]}
        )
    return {
        "day": today,
        "baseline": {
            **baseline,
            "days": BASELINE_DAYS,
            "from": start.isoformat(),
            "to": (day - timedelta(1)).isoformat(),
        },
        "success_rate_change": None
        if today["success_rate"] is None or baseline["success_rate"] is None
        else round(today["success_rate"] - baseline["success_rate"], 6),
        "error_budget": {
            "slo_target": target,
            "burn": _burn(today["success_rate"], target),
            "baseline_burn": _burn(baseline["success_rate"], target),
        },
        "failing_run_uids": failing_uids,
        "trend": trend,
    }


def regressions(con: duckdb.DuckDBPyConnection, day: date) -> Row:
    """Pipelines whose latest decisive run on D is failing: `regressed` when the regression happened on D,
    `still_failing` when it happened earlier (or the pipeline never passed)."""
    rows = _rows(
        con,
        f"""
        with runs as ({_TERMINAL_RUNS}),
        decisive as (
            select *, row_number() over (
                partition by cluster, namespace, pipeline_name order by order_at desc, pipeline_run_uid desc
            ) as newest_first
            from runs where run_day <= ? and status in ('succeeded', 'failed', 'timed_out')
        ),
        latest as (select * from decisive where newest_first = 1 and run_day = ? and status in {FAILING}),
        regressed as (
            select r.cluster, r.namespace, r.pipeline_name, c.pipeline_run_uid, c.previous_run_uid, r.run_day,
                r.order_at,
                row_number() over (
                    partition by r.cluster, r.namespace, r.pipeline_name order by r.order_at desc, r.pipeline_run_uid desc
                ) as newest_first
            from marts.fct_run_comparisons as c
            join runs as r on r.cluster = c.cluster and r.pipeline_run_uid = c.pipeline_run_uid
            where c.transition = 'regressed' and r.run_day <= ?
        ),
        failing_today as (
            select cluster, namespace, pipeline_name, list(pipeline_run_uid order by order_at, pipeline_run_uid) as uids
            from runs where run_day = ? and status in {FAILING}
            group by all
        )
        select
            l.cluster, l.namespace, l.pipeline_name, l.pipeline_run_uid as latest_run_uid, l.status as latest_status,
            g.pipeline_run_uid as regressed_run_uid, g.previous_run_uid as last_passing_run_uid,
            g.run_day as regressed_on, f.uids as failing_run_uids
        from latest as l
        left join regressed as g
            on g.cluster = l.cluster and g.namespace = l.namespace and g.pipeline_name = l.pipeline_name
            and g.newest_first = 1
        join failing_today as f
            on f.cluster = l.cluster and f.namespace = l.namespace and f.pipeline_name = l.pipeline_name
        order by l.cluster, l.namespace, l.pipeline_name
        """,
        [day, day, day, day],
    )
    regressed, still_failing = [], []
    for row in rows:
        regressed_on = row.pop("regressed_on")
        row["regressed_on"] = regressed_on.isoformat() if regressed_on else None
        row["failing_run_uids"] = list(row["failing_run_uids"])
        (regressed if regressed_on == day else still_failing).append(row)
    return {"regressed": regressed, "still_failing": still_failing}


def _newly_flaky(con: duckdb.DuckDBPyConnection, day: date, window_days: int, task_level: bool) -> list[Row]:
    """Groups with flaky evidence on D and none in the `window_days` before D.

    Evidence counts on the day it became visible: the later completion of its failing and its passing run.
    """
    runs_table, uid_column = (
        ("marts.fct_task_runs", "task_run_uid")
        if task_level
        else ("marts.fct_pipeline_runs", "pipeline_run_uid")
    )
    key = "cluster, namespace, pipeline_name" + (", pipeline_task" if task_level else "")
    level = "e.pipeline_task is not null" if task_level else "e.pipeline_task is null"
    rows = _rows(
        con,
        f"""
        with runs as (select cluster, {uid_column} as uid, completed_at from {runs_table}),
        evidence as (
            select e.*, cast(greatest(coalesce(f.completed_at, p.completed_at), coalesce(p.completed_at, f.completed_at))
                as date) as evidence_day
            from marts.fct_flaky_evidence as e
            left join runs as f on f.cluster = e.cluster and f.uid = e.failed_uid
            left join runs as p on p.cluster = e.cluster and p.uid = e.passing_uid
            where {level}
        ),
        grouped as (
            select {key},
                count(*) filter (where evidence_day >= ? and evidence_day < ?) as earlier,
                list(distinct kind order by kind) filter (where evidence_day = ?) as kinds,
                list(distinct failed_uid order by failed_uid) filter (where evidence_day = ?) as failed_uids,
                list(distinct passing_uid order by passing_uid)
                    filter (where evidence_day = ? and passing_uid is not null) as passing_uids
            from evidence group by all
        )
        select * exclude (earlier) from grouped
        where earlier = 0 and len(failed_uids) > 0
        order by {key}
        """,
        [day - timedelta(days=window_days), day, day, day, day],
    )
    for row in rows:
        for name in ("kinds", "failed_uids", "passing_uids"):
            row[name] = list(row[name] or [])
    return rows


def newly_flaky(con: duckdb.DuckDBPyConnection, day: date, window_days: int) -> Row:
    return {
        "window_days": window_days,
        "pipelines": _newly_flaky(con, day, window_days, task_level=False),
        "tasks": _newly_flaky(con, day, window_days, task_level=True),
    }


def failure_causes(con: duckdb.DuckDBPyConnection, day: date) -> list[Row]:
    """Failing PipelineRuns and standalone TaskRuns on D, grouped by cause, most frequent first."""
    rows = _rows(
        con,
        f"""
        with run_days as (
            select cluster, pipeline_run_uid as uid, 'PipelineRun' as run_kind,
                coalesce(started_at, created_at) as order_at, {_RUN_DAY} as run_day
            from marts.fct_pipeline_runs
            union all
            select cluster, task_run_uid, 'TaskRun', coalesce(started_at, created_at), {_RUN_DAY}
            from marts.fct_task_runs where pipeline_run_uid is null
        )
        select f.cause, count(*) as failures,
            list(distinct f.pipeline_name order by f.pipeline_name) as pipelines,
            list(f.run_uid order by d.order_at, f.run_uid) as run_uids
        from marts.fct_failures as f
        join run_days as d on d.cluster = f.cluster and d.uid = f.run_uid and d.run_kind = f.run_kind
        where d.run_day = ?
        group by f.cause
        order by failures desc, f.cause
        """,
        [day],
    )
    for row in rows:
        row["pipelines"] = [name for name in row["pipelines"] if name is not None]
        row["run_uids"] = list(row["run_uids"])
    return rows


def duration_increases(con: duckdb.DuckDBPyConnection, day: date) -> list[Row]:
    """Pipelines whose p95 duration on D rose most against their p95 over the 7 days before.

    Links point at the runs on D slower than the baseline p95 (the runs that moved the percentile).
    """
    rows = _rows(
        con,
        f"""
        with runs as (select * from ({_TERMINAL_RUNS}) where duration_s is not null and run_day between ? and ?),
        percentiles as (
            select cluster, namespace, pipeline_name,
                quantile_cont(duration_s, 0.95) filter (where run_day = ?) as p95_day_s,
                quantile_cont(duration_s, 0.95) filter (where run_day < ?) as p95_baseline_s,
                count(*) filter (where run_day = ?) as runs_day
            from runs group by all
        ),
        increases as (
            select *, p95_day_s - p95_baseline_s as increase_s from percentiles where p95_day_s > p95_baseline_s
            order by increase_s desc, cluster, namespace, pipeline_name limit {TOP_ITEMS}
        )
        select i.*,
            list(r.pipeline_run_uid order by r.duration_s desc, r.pipeline_run_uid) as run_uids
        from increases as i
        join runs as r using (cluster, namespace, pipeline_name)
        where r.run_day = ? and r.duration_s > i.p95_baseline_s
        group by all
        order by i.increase_s desc, i.cluster, i.namespace, i.pipeline_name
        """,
        [day - timedelta(days=BASELINE_DAYS), day, day, day, day, day],
    )
    for row in rows:
        for name in ("p95_day_s", "p95_baseline_s", "increase_s"):
            row[name] = _round(row[name])
        row["ratio"] = _round(row["p95_day_s"] / row["p95_baseline_s"], 3) if row["p95_baseline_s"] else None
        row["run_uids"] = list(row["run_uids"])
    return rows


def queue_times(con: duckdb.DuckDBPyConnection, day: date) -> Row:
    """Queue-time p95 on D (from agg_reliability_daily) and over the 7 days before, plus the worst pipelines."""
    day_row = con.execute(
        "select queue_p95_s from marts.agg_reliability_daily where day = ?", [day]
    ).fetchone()
    baseline_row = con.execute(
        f"select quantile_cont(queue_s, 0.95) from ({_TERMINAL_RUNS}) where run_day >= ? and run_day < ?",
        [day - timedelta(days=BASELINE_DAYS), day],
    ).fetchone()
    worst = _rows(
        con,
        f"""
        with runs as (select * from ({_TERMINAL_RUNS}) where run_day = ? and queue_s is not null),
        percentiles as (
            select cluster, namespace, pipeline_name, quantile_cont(queue_s, 0.95) as queue_p95_s, count(*) as runs
            from runs group by all
            order by queue_p95_s desc, cluster, namespace, pipeline_name limit {TOP_ITEMS}
        )
        select p.*, list(r.pipeline_run_uid order by r.queue_s desc, r.pipeline_run_uid) as run_uids
        from percentiles as p join runs as r using (cluster, namespace, pipeline_name)
        where r.queue_s >= p.queue_p95_s
        group by all
        order by p.queue_p95_s desc, p.cluster, p.namespace, p.pipeline_name
        """,
        [day],
    )
    for row in worst:
        row["queue_p95_s"] = _round(row["queue_p95_s"])
        row["run_uids"] = list(row["run_uids"])
    return {
        "p95_s": _round(day_row[0]) if day_row else None,
        "baseline_p95_s": _round(baseline_row[0]) if baseline_row else None,
        "worst_pipelines": worst,
    }


def supply_chain(con: duckdb.DuckDBPyConnection, day: date) -> Row:
    """Artifacts produced on D, the share signed, and commits whose artifacts were consumed by runs failing on D."""
    produced = _rows(
        con,
        """
        with artifacts as (
            select artifact_digest, bool_or(is_signed) as signed,
                list(distinct producer_run_uid order by producer_run_uid) as producers
            from marts.fct_artifacts where cast(produced_at as date) = ? group by artifact_digest
        )
        select count(*) as artifacts, count(*) filter (where signed) as signed,
            flatten(list(producers order by artifact_digest)) as producer_run_uids
        from artifacts
        """,
        [day],
    )[0]
    commits = _rows(
        con,
        f"""
        with failing as (select cluster, pipeline_run_uid from ({_TERMINAL_RUNS}) where run_day = ? and status in {FAILING})
        select a.repo_url, a.commit_sha,
            list(distinct a.artifact_digest order by a.artifact_digest) as artifact_digests,
            list(distinct a.producer_run_uid order by a.producer_run_uid) as producer_run_uids,
            list(distinct f.pipeline_run_uid order by f.pipeline_run_uid) as failing_downstream_run_uids
        from marts.fct_lineage_edges as e
        join marts.fct_artifacts as a on a.artifact_digest = e.source_id
        join failing as f on f.pipeline_run_uid = e.target_id
        where e.source_kind = 'artifact' and e.relation = 'consumed_by' and a.commit_sha is not null
        group by a.repo_url, a.commit_sha
        order by len(failing_downstream_run_uids) desc, a.repo_url, a.commit_sha
        """,
        [day],
    )
    for row in commits:
        for name in ("artifact_digests", "producer_run_uids", "failing_downstream_run_uids"):
            row[name] = list(row[name])
    artifacts = int(produced["artifacts"] or 0)
    return {
        "artifacts_produced": artifacts,
        "artifacts_signed": int(produced["signed"] or 0),
        "share_signed": _rate(produced["signed"], artifacts),
        "producer_run_uids": sorted(set(produced["producer_run_uids"] or [])),
        "commits_failed_downstream": commits,
    }
