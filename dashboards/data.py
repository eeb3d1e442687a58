"""Read-only, cached queries on the published serving file `<home>/tekton.duckdb` (schema `marts`).

Why it is built this way:
- The ETL replaces the serving file by rename after every build. We never hold a connection: each query opens the
  file read-only, runs, and closes, so a reader can never make a build fail, and the next query sees the new file.
- Results are cached with `st.cache_data`, keyed on the file's identity (path, inode, mtime, size), so a republish
  invalidates every cached result without a restart.
- External file access is off and the configuration is locked, so even the SQL page cannot read other files or
  switch the protection off. Filters reach SQL only as bound parameters (`$name`), never as text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from etl.config import resolve_home
from etl.errors import WarehouseError

# ================================================================================================================
# Constants
# ================================================================================================================

SQL_ROW_CAP = 10_000
SQL_TIMEOUT_S = 30.0
DEFAULT_SLO = 0.99
DEFAULT_WINDOW_DAYS = 30
EMPTY_HINT = (
    "Run `tekton-warehouse demo` for a generated history, or `tekton-warehouse ingest` then "
    "`tekton-warehouse build` for your own clusters."
)
_PARAM_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist")


class DashboardDataError(WarehouseError):
    """The serving file cannot answer a page's query (a mart missing, a file half-written by an old tool)."""


# ================================================================================================================
# The serving file and its identity
# ================================================================================================================


@dataclass(frozen=True)
class Snapshot:
    """One published version of the serving file. A republish (rename over it) changes inode and mtime."""

    path: str
    inode: int
    mtime_ns: int
    size: int


def home_dir() -> Path:
    """The warehouse folder, from env `TEKTON_WAREHOUSE_HOME` (default `.warehouse`)."""
    return resolve_home().home


def serving_path() -> Path:
    return resolve_home().serving_db


def current_snapshot(path: Path | None = None) -> Snapshot | None:
    """The identity of the file now published, or None when nothing has been published yet."""
    target = path or serving_path()
    try:
        stat = target.stat()
    except FileNotFoundError:
        return None
    return Snapshot(str(target), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def open_readonly(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A short-lived read-only connection that cannot touch other files or loosen its own settings."""
    con = duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
    # Days are UTC days everywhere (data-model.md); the lock stops the SQL page from undoing any of this.
    # DuckDB shares one database instance per path in a process: a second open gets the already locked instance.
    if not con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        con.execute("SET GLOBAL lock_configuration = true")
    return con


_READERS: dict[str, tuple[Snapshot, duckdb.DuckDBPyConnection]] = {}
_READERS_LOCK = threading.Lock()


def _reader(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """A cursor on the one read-only connection kept per published version.

    Opening the 200 MB serving file costs far more than a typical page query, so one read-only connection per
    snapshot is kept and reopened when the identity changes. It never blocks a build: publish writes a new file and
    renames it over this one, and the old version is closed as soon as a query sees the new one.
    """
    with _READERS_LOCK:
        held = _READERS.get(snapshot.path)
        if held is None or held[0] != snapshot:
            if held is not None:
                held[1].close()
            _READERS[snapshot.path] = (snapshot, open_readonly(snapshot.path))
        return _READERS[snapshot.path][1].cursor()


def close_readers() -> None:
    """Close every kept connection (tests, and the bench's cold-start figures)."""
    with _READERS_LOCK:
        for _, con in _READERS.values():
            con.close()
        _READERS.clear()


def _bound(sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the parameters the statement names: DuckDB rejects extra ones."""
    names = set(_PARAM_NAME.findall(sql))
    return {name: params[name] for name in names}


def _run(snapshot: Snapshot, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
    path = snapshot.path
    con = _reader(snapshot)
    try:
        return con.execute(sql, _bound(sql, params)).df()
    except duckdb.CatalogException as exc:
        raise _missing_mart(exc, path, "a mart") from None
    finally:
        con.close()


def _missing_mart(exc: duckdb.CatalogException, path: str, fallback: str) -> DashboardDataError:
    """The readable error for a query that met a table missing from the serving file (an old or partial build)."""
    match = _MISSING_TABLE.search(str(exc))
    table = f"marts.{match.group(1)}" if match else fallback
    return DashboardDataError(
        f"{table} is missing from {path}: rebuild and publish with `tekton-warehouse build`"
    )


@st.cache_data(ttl="15m", max_entries=1024, show_spinner=False)
def _cached(snapshot: Snapshot, sql: str, params: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return _run(snapshot, sql, dict(params))


def query(snapshot: Snapshot, sql: str, **params: Any) -> pd.DataFrame:
    """Run a fixed statement with bound `$name` parameters; cached until the file is republished."""
    return _cached(snapshot, sql, tuple(sorted(params.items())))


def clear_cache() -> None:
    _cached.clear()
    _cached_lineage.clear()


# ================================================================================================================
# Shared filters
# ================================================================================================================


@dataclass(frozen=True)
class Filters:
    """What every page is narrowed to; None means all."""

    cluster: str | None
    namespace: str | None
    pipeline: str | None
    start: date
    end: date

    def params(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "namespace": self.namespace,
            "pipeline": self.pipeline,
            "start": self.start,
            "end": self.end,
        }

    def previous_period(self) -> Filters:
        """The period of the same length just before this one, for "vs previous period" deltas."""
        length = (self.end - self.start).days + 1
        return Filters(
            self.cluster,
            self.namespace,
            self.pipeline,
            self.start - timedelta(days=length),
            self.start - timedelta(days=1),
        )


def scope_sql(alias: str = "") -> str:
    """The cluster/namespace/pipeline condition for a table that has those three columns."""
    p = f"{alias}." if alias else ""
    return (
        f"($cluster IS NULL OR {p}cluster = $cluster) "
        f"AND ($namespace IS NULL OR {p}namespace = $namespace) "
        f"AND ($pipeline IS NULL OR {p}pipeline_name = $pipeline)"
    )


def pipeline_catalog(snapshot: Snapshot) -> pd.DataFrame:
    """Every (cluster, namespace, pipeline_name), for the filter boxes."""
    return query(
        snapshot,
        "SELECT cluster, namespace, pipeline_name FROM marts.dim_pipelines ORDER BY cluster, namespace, pipeline_name",
    )


def day_bounds(snapshot: Snapshot) -> tuple[date, date] | None:
    """First and last day with terminal runs, or None when the marts are empty."""
    frame = query(
        snapshot, "SELECT min(day) AS first_day, max(day) AS last_day FROM marts.agg_pipeline_daily"
    )
    if frame.empty or pd.isna(frame.at[0, "last_day"]):
        return None
    return _as_date(frame.at[0, "first_day"]), _as_date(frame.at[0, "last_day"])


def default_range(bounds: tuple[date, date] | None) -> tuple[date, date]:
    """The last 30 days of data (measured from the data, never the wall clock)."""
    if bounds is None:
        today = date.today()
        return today - timedelta(days=DEFAULT_WINDOW_DAYS - 1), today
    first, last = bounds
    return max(first, last - timedelta(days=DEFAULT_WINDOW_DAYS - 1)), last


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


# ================================================================================================================
# Overview
# ================================================================================================================


@dataclass(frozen=True)
class Kpis:
    runs: int
    success_rate: float | None
    slo_target: float
    error_budget_burn: float | None
    duration_p95_s: float | None
    queue_p95_s: float | None
    flaky_pipelines: int


def _none_if_nan(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def kpis(snapshot: Snapshot, filters: Filters) -> Kpis:
    """The overview's KPI row for the filters' scope and period, in one round trip."""
    row = query(
        snapshot,
        f"""
        SELECT
            (SELECT coalesce(sum(runs), 0) FROM marts.agg_pipeline_daily
             WHERE {scope_sql()} AND day BETWEEN $start AND $end) AS runs,
            (SELECT sum(succeeded) / nullif(sum(succeeded) + sum(failed) + sum(timed_out), 0)
             FROM marts.agg_pipeline_daily WHERE {scope_sql()} AND day BETWEEN $start AND $end) AS success_rate,
            (SELECT max(slo_target) FROM marts.agg_reliability_daily) AS slo,
            -- Period percentiles need the runs themselves: the narrow, day-sorted read model, not fct_pipeline_runs
            -- (whose per-row timestamptz -> date conversion dominated this query at 1M objects).
            p.duration_p95_s, p.queue_p95_s,
            (SELECT count(*) FROM marts.fct_flaky_pipelines WHERE {scope_sql()} AND is_flaky) AS flaky
        FROM (
            SELECT quantile_cont(duration_s, 0.95) AS duration_p95_s, quantile_cont(queue_s, 0.95) AS queue_p95_s
            FROM marts.fct_pipeline_run_days WHERE {scope_sql()} AND day BETWEEN $start AND $end
        ) p
        """,
        **filters.params(),
    ).iloc[0]
    slo_target = _none_if_nan(row["slo"]) or DEFAULT_SLO
    success_rate = _none_if_nan(row["success_rate"])
    burn = None if success_rate is None else (1 - success_rate) / (1 - slo_target)
    return Kpis(
        runs=int(row["runs"]),
        success_rate=success_rate,
        slo_target=float(slo_target),
        error_budget_burn=burn,
        duration_p95_s=_none_if_nan(row["duration_p95_s"]),
        queue_p95_s=_none_if_nan(row["queue_p95_s"]),
        flaky_pipelines=int(row["flaky"]),
    )


def daily_totals(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    """Runs and success rate per day in scope, for the overview's chart."""
    return query(
        snapshot,
        f"""
        SELECT day, sum(runs) AS runs, sum(succeeded) AS succeeded,
               sum(failed) + sum(timed_out) AS failing, sum(cancelled) AS cancelled,
               sum(succeeded) / nullif(sum(succeeded) + sum(failed) + sum(timed_out), 0) AS success_rate
        FROM marts.agg_pipeline_daily
        WHERE {scope_sql()} AND day BETWEEN $start AND $end
        GROUP BY day ORDER BY day
        """,
        **filters.params(),
    )


def regressions_on(snapshot: Snapshot, filters: Filters, day: date) -> pd.DataFrame:
    """Runs whose transition on `day` was `regressed` (previous succeeded, this one failing)."""
    # fct_pipeline_run_days carries the fct_run_comparisons columns beside the run's day: no join, no conversion.
    return query(
        snapshot,
        f"""
        SELECT cluster, namespace, pipeline_name, pipeline_run_name, pipeline_run_uid,
               status, previous_run_uid, previous_status, commit_changed, duration_s,
               commit_sha, completed_at
        FROM marts.fct_pipeline_run_days
        WHERE {scope_sql()} AND transition = 'regressed' AND day = $day
        ORDER BY completed_at DESC, pipeline_run_uid
        """,
        **filters.params(),
        day=day,
    )


def latest_daily_summary(home: Path | None = None) -> tuple[str, str] | None:
    """(day, Markdown) of the newest daily summary in `<home>/reports/daily/`, or None when none was written."""
    folder = resolve_home(home).daily_reports_dir
    candidates = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not candidates:
        return None
    newest = candidates[-1]
    return newest.stem, newest.read_text(encoding="utf-8", errors="replace")


# ================================================================================================================
# Trends
# ================================================================================================================

GROUPINGS = ("pipeline", "namespace")


def _group_columns(group_by: str) -> str:
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}")
    if group_by == "pipeline":
        return "cluster || '/' || namespace || '/' || pipeline_name"
    return "cluster || '/' || namespace"


def trend_series(snapshot: Snapshot, filters: Filters, group_by: str) -> pd.DataFrame:
    """Per day and group: volume, success rate, p50/p95 duration and queue time over terminal runs."""
    group = _group_columns(group_by)
    if group_by == "pipeline":
        # Exactly agg_pipeline_daily's rows: per-group percentiles are the costly part, and that mart has them.
        return query(
            snapshot,
            f"""
            SELECT day, {group} AS grp, runs, success_rate, duration_p50_s, duration_p95_s, queue_p50_s, queue_p95_s
            FROM marts.agg_pipeline_daily
            WHERE {scope_sql()} AND day BETWEEN $start AND $end
            ORDER BY day, grp
            """,
            **filters.params(),
        )
    return query(
        snapshot,
        f"""
        SELECT day, {group} AS grp, count(*) AS runs,
               count(*) FILTER (WHERE status = 'succeeded')
                 / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out')), 0) AS success_rate,
               quantile_cont(duration_s, 0.5) AS duration_p50_s, quantile_cont(duration_s, 0.95) AS duration_p95_s,
               quantile_cont(queue_s, 0.5) AS queue_p50_s, quantile_cont(queue_s, 0.95) AS queue_p95_s
        FROM marts.fct_pipeline_run_days
        WHERE {scope_sql()} AND day BETWEEN $start AND $end
        GROUP BY ALL ORDER BY day, grp
        """,
        **filters.params(),
    )


def period_changes(snapshot: Snapshot, filters: Filters, group_by: str) -> pd.DataFrame:
    """Each group's period against the period of the same length before it, largest changes first."""
    group = _group_columns(group_by)
    previous = filters.previous_period()
    return query(
        snapshot,
        f"""
        WITH per_period AS (
            SELECT {group} AS grp, day >= $start AS is_current, count(*) AS runs,
                   count(*) FILTER (WHERE status = 'succeeded')
                     / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out')), 0)
                     AS success_rate,
                   quantile_cont(duration_s, 0.95) AS duration_p95_s, quantile_cont(queue_s, 0.95) AS queue_p95_s
            FROM marts.fct_pipeline_run_days
            WHERE {scope_sql()} AND day BETWEEN $previous_start AND $end
            GROUP BY ALL
        )
        SELECT coalesce(c.grp, p.grp) AS grp,
               p.runs AS previous_runs, c.runs AS runs,
               p.success_rate AS previous_success_rate, c.success_rate AS success_rate,
               c.success_rate - p.success_rate AS success_rate_change,
               p.duration_p95_s AS previous_duration_p95_s, c.duration_p95_s AS duration_p95_s,
               c.duration_p95_s - p.duration_p95_s AS duration_p95_change_s,
               p.queue_p95_s AS previous_queue_p95_s, c.queue_p95_s AS queue_p95_s,
               c.queue_p95_s - p.queue_p95_s AS queue_p95_change_s
        FROM (SELECT * FROM per_period WHERE is_current) c
        FULL JOIN (SELECT * FROM per_period WHERE NOT is_current) p ON p.grp = c.grp
        ORDER BY abs(coalesce(c.duration_p95_s - p.duration_p95_s, 0)) DESC,
                 abs(coalesce(c.success_rate - p.success_rate, 0)) DESC, grp
        """,
        **filters.params(),
        previous_start=previous.start,
    )


# ================================================================================================================
# Flakiness
# ================================================================================================================


def flaky_pipelines(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    """Flaky pipelines in scope, most flaky failures (then most wasted time) first."""
    return query(
        snapshot,
        f"""
        SELECT cluster, namespace, pipeline_name, runs, failures, flaky_failures, flaky_failure_rate,
               flip_rate, wasted_s, evidence_kinds, first_flake_at, last_flake_at
        FROM marts.fct_flaky_pipelines
        WHERE {scope_sql()} AND is_flaky
        ORDER BY flaky_failures DESC, wasted_s DESC, cluster, namespace, pipeline_name
        """,
        **filters.params(),
    )


def flaky_tasks(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    """Flaky pipeline tasks in scope, most flaky failures and retry passes first."""
    return query(
        snapshot,
        f"""
        SELECT cluster, namespace, pipeline_name, pipeline_task, runs, failures, flaky_failures, retry_passes,
               flaky_failure_rate, flip_rate, wasted_s
        FROM marts.fct_flaky_tasks
        WHERE {scope_sql()} AND is_flaky
        ORDER BY flaky_failures + retry_passes DESC, wasted_s DESC, cluster, namespace, pipeline_name, pipeline_task
        """,
        **filters.params(),
    )


def flaky_evidence(snapshot: Snapshot, cluster: str, namespace: str, pipeline: str) -> pd.DataFrame:
    """The evidence rows of one pipeline: failing run, passing run, commit and kind, with the runs' names."""
    # fct_flaky_evidence_runs has the names joined at build time and is sorted by pipeline: a few row groups read.
    return query(
        snapshot,
        """
        SELECT kind, pipeline_task, commit_sha, failed_run, failed_at, passing_run, failed_uid, passing_uid
        FROM marts.fct_flaky_evidence_runs
        WHERE cluster = $cluster AND namespace = $namespace AND pipeline_name = $pipeline
        ORDER BY failed_at DESC NULLS LAST, failed_uid, kind
        """,
        cluster=cluster,
        namespace=namespace,
        pipeline=pipeline,
    )


# ================================================================================================================
# Run comparison
# ================================================================================================================

RUN_LIST_LIMIT = 500


def comparable_runs(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    """The newest terminal runs in scope (at most 500), to pick from."""
    return query(
        snapshot,
        f"""
        SELECT pipeline_run_uid, pipeline_run_name, cluster, namespace, pipeline_name, status, completed_at
        FROM marts.fct_pipeline_run_days
        WHERE {scope_sql()} AND day BETWEEN $start AND $end
        ORDER BY order_at DESC, pipeline_run_uid DESC
        LIMIT {RUN_LIST_LIMIT}
        """,
        **filters.params(),
    )


def run_details(snapshot: Snapshot, uids: list[str]) -> pd.DataFrame:
    """The fct_pipeline_runs rows of the given runs (a few: the run and the one it is compared with)."""
    return query(
        snapshot,
        """
        SELECT pipeline_run_uid, pipeline_run_name, cluster, namespace, pipeline_name, status, reason,
               created_at, started_at, completed_at, duration_s, queue_s, repo_url, commit_sha,
               task_run_count, failed_task_count, is_signed
        FROM marts.fct_pipeline_runs WHERE list_contains($uids, pipeline_run_uid)
        """,
        # A list test per row beats a semi-join for the one or two runs compared (no hash table, no join).
        uids=list(uids),
    )


def run_comparison(snapshot: Snapshot, uid: str) -> pd.DataFrame:
    """The fct_run_comparisons row of one run (against its previous run)."""
    return query(
        snapshot,
        """
        SELECT pipeline_run_uid, previous_run_uid, status, previous_status, transition, duration_s,
               previous_duration_s, duration_delta_s, duration_ratio, commit_changed, params_changed,
               results_changed, tasks_added, tasks_removed
        FROM marts.fct_run_comparisons WHERE pipeline_run_uid = $uid
        """,
        uid=uid,
    )


VALUE_KINDS = ("param", "result")


def run_values(snapshot: Snapshot, uid: str, other_uid: str | None) -> pd.DataFrame:
    """Every param and result of the run beside the other run's (null where a side lacks the name).

    `changed` is decided on the canonical JSON text (`value_json`), the rule fct_run_comparisons applies, so for the
    previous run the changed names here are exactly its params_changed / results_changed.
    """
    return query(
        snapshot,
        """
        WITH v AS (
            SELECT run_uid, value_kind, name, value_json, value_text
            FROM marts.fct_run_values WHERE run_uid IN ($uid, $other_uid)
        ), a AS (SELECT * FROM v WHERE run_uid = $uid), b AS (SELECT * FROM v WHERE run_uid = $other_uid)
        SELECT coalesce(a.value_kind, b.value_kind) AS value_kind, coalesce(a.name, b.name) AS name,
               a.value_text, b.value_text AS other_value_text,
               a.name IS NULL OR b.name IS NULL
                 OR coalesce(a.value_json, 'null') <> coalesce(b.value_json, 'null') AS changed
        FROM a FULL JOIN b ON a.value_kind = b.value_kind AND a.name = b.name
        ORDER BY value_kind, name
        """,
        uid=uid,
        other_uid=other_uid or "",
    )


def task_durations(snapshot: Snapshot, uid: str, other_uid: str) -> pd.DataFrame:
    """Per pipeline task: status and duration in the run and in the other run (null where absent)."""
    return query(
        snapshot,
        """
        WITH t AS (
            SELECT pipeline_run_uid, pipeline_task, arg_max(status, created_at) AS status,
                   arg_max(duration_s, created_at) AS duration_s
            FROM marts.fct_task_runs
            WHERE pipeline_run_uid IN ($uid, $other_uid) AND pipeline_task IS NOT NULL
            GROUP BY ALL
        )
        SELECT coalesce(a.pipeline_task, b.pipeline_task) AS pipeline_task,
               a.status, a.duration_s, b.status AS other_status, b.duration_s AS other_duration_s,
               a.duration_s - b.duration_s AS duration_delta_s
        FROM (SELECT * FROM t WHERE pipeline_run_uid = $uid) a
        FULL JOIN (SELECT * FROM t WHERE pipeline_run_uid = $other_uid) b ON a.pipeline_task = b.pipeline_task
        ORDER BY pipeline_task
        """,
        uid=uid,
        other_uid=other_uid,
    )


# ================================================================================================================
# Lineage
# ================================================================================================================

LINEAGE_MAX_EDGES = 400
LINEAGE_DOWNSTREAM_HOPS = 4


def recent_commits(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    """Supply-chain rows whose first run lies in the period, newest first."""
    return query(
        snapshot,
        """
        SELECT repo_url, commit_sha, first_run_at, runs, succeeded_runs, artifacts, signed_artifacts,
               downstream_runs, downstream_failing, commit_at, lead_time_s, provenance_complete
        FROM marts.fct_supply_chains
        -- A timestamp range, not CAST(first_run_at AS DATE): that cast goes through ICU for every row.
        WHERE first_run_at >= CAST($start AS TIMESTAMPTZ) AND first_run_at < CAST($end + 1 AS TIMESTAMPTZ)
        ORDER BY first_run_at DESC, repo_url, commit_sha
        LIMIT 500
        """,
        start=filters.start,
        end=filters.end,
    )


def lineage_start_nodes(snapshot: Snapshot, text: str) -> pd.DataFrame:
    """Graph nodes matching a commit sha (or prefix), an image digest (with or without `alg:`) or a run uid/name."""
    needle = text.strip().lower()
    if not needle:
        return pd.DataFrame(columns=["kind", "id"])
    return query(
        snapshot,
        """
        SELECT DISTINCT kind, id FROM (
            SELECT 'commit' AS kind, repo_url || '@' || commit_sha AS id FROM marts.fct_supply_chains
            WHERE length($needle) >= 7 AND starts_with(commit_sha, $needle)
            UNION ALL
            SELECT 'artifact', artifact_digest FROM marts.fct_artifacts
            WHERE artifact_digest = $needle OR split_part(artifact_digest, ':', 2) = $needle
            UNION ALL
            SELECT 'pipeline_run', pipeline_run_uid FROM marts.fct_pipeline_runs
            WHERE pipeline_run_uid = $needle OR lower(pipeline_run_name) = $needle
            UNION ALL
            SELECT 'task_run', task_run_uid FROM marts.fct_task_runs
            WHERE task_run_uid = $needle AND pipeline_run_uid IS NULL
        ) ORDER BY kind, id LIMIT 20
        """,
        needle=needle,
    )


_EDGE_COLUMNS = (
    "source_key, target_key, source_kind, source_id, target_kind, target_id, relation, observed_at"
)
_KEY_EDGE_COLUMNS = "source_key, target_key, relation, observed_at"
_UPSTREAM_RELATIONS = ("produces", "triggers", "contains")


def lineage_edges(snapshot: Snapshot, start_ids: list[str]) -> pd.DataFrame:
    """Edges reachable downstream from the start nodes (a few hops), plus the hops upstream to their commit.

    Rows are fct_lineage_edges rows (walked on fct_lineage_graph's keys) with the integer keys of both ends.
    """
    return _cached_lineage(snapshot, tuple(sorted(start_ids)))


@st.cache_data(ttl="15m", max_entries=256, show_spinner=False)
def _cached_lineage(snapshot: Snapshot, start_ids: tuple[str, ...]) -> pd.DataFrame:
    # Hop by hop on one connection, on integer node keys numbered in time order: each hop is a semi-join on one
    # BIGINT column, and the join's min/max filter skips every row group outside the frontier's time window (a
    # walk on the id strings read every edge per hop: ~250 ms a hop at 1M objects against ~5 ms).
    con = _reader(snapshot)
    try:
        start = [
            key
            for (key,) in con.execute(
                "SELECT node_key FROM marts.fct_lineage_node_ids WHERE node_id IN (SELECT unnest($ids))",
                {"ids": list(start_ids)},
            ).fetchall()
        ]
        frames = _walk(con, start, "source_key", "target_key", LINEAGE_DOWNSTREAM_HOPS, None)
        frames += _walk(con, start, "target_key", "source_key", 2, _UPSTREAM_RELATIONS)
        keyed = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=_KEY_EDGE_COLUMNS.split(", "))
        )
        edges = _with_node_ids(con, keyed)
    except duckdb.CatalogException as exc:
        raise _missing_mart(exc, snapshot.path, "marts.fct_lineage_graph") from None
    finally:
        con.close()
    edges = edges.drop_duplicates(subset=["source_id", "target_id", "relation"])
    return (
        edges.sort_values(["relation", "source_id", "target_id"])
        .head(LINEAGE_MAX_EDGES)
        .reset_index(drop=True)
    )


def _walk(
    con: duckdb.DuckDBPyConnection,
    start: list[int],
    from_column: str,
    to_column: str,
    hops: int,
    relations: tuple[str, ...] | None,
) -> list[pd.DataFrame]:
    """Breadth-first over fct_lineage_graph from the `start` keys, following `from_column` → `to_column`."""
    relation_filter = "AND list_contains($relations, relation)" if relations else ""
    sql = (
        f"SELECT {_KEY_EDGE_COLUMNS} FROM marts.fct_lineage_graph "
        f"WHERE {from_column} IN (SELECT unnest($keys)) {relation_filter}"
    )
    frames, seen, frontier = [], set(start), start
    for _ in range(hops):
        if not frontier or sum(len(f) for f in frames) >= LINEAGE_MAX_EDGES:
            break
        params: dict[str, Any] = {"keys": frontier}
        if relations:
            params["relations"] = list(relations)
        found = con.execute(sql, params).df()
        frames.append(found)
        frontier = [int(n) for n in found[to_column].unique().tolist() if n not in seen]
        seen.update(frontier)
    return frames


def _with_node_ids(con: duckdb.DuckDBPyConnection, keyed: pd.DataFrame) -> pd.DataFrame:
    """The walked key edges with both ends' kind and id, from fct_lineage_nodes (one lookup, by key)."""
    keys = sorted({int(k) for k in pd.concat([keyed["source_key"], keyed["target_key"]])})
    nodes = con.execute(
        "SELECT node_key, node_kind, node_id FROM marts.fct_lineage_nodes WHERE node_key IN (SELECT unnest($keys))",
        {"keys": keys},
    ).df()
    kinds = dict(zip(nodes["node_key"], nodes["node_kind"], strict=True))
    ids = dict(zip(nodes["node_key"], nodes["node_id"], strict=True))
    edges = keyed.assign(
        source_kind=keyed["source_key"].map(kinds),
        source_id=keyed["source_key"].map(ids),
        target_kind=keyed["target_key"].map(kinds),
        target_id=keyed["target_key"].map(ids),
    )
    return edges[_EDGE_COLUMNS.split(", ")]


def node_keys(edges: pd.DataFrame) -> dict[str, int]:
    """Node id → node key of every node in a lineage_edges frame."""
    return {
        **dict(zip(edges["source_id"], edges["source_key"], strict=True)),
        **dict(zip(edges["target_id"], edges["target_key"], strict=True)),
    }


def lineage_run_labels(snapshot: Snapshot, run_keys: list[int]) -> pd.DataFrame:
    """Names, pipelines and status of the pipeline and task runs drawn in a lineage graph, by node key."""
    # By key, not by uid: keys are numbered in time order, so the nodes of one graph sit in a few row groups.
    return query(
        snapshot,
        """
        SELECT node_id AS id, run_name AS name, run_pipeline AS pipeline, run_status AS status
        FROM marts.fct_lineage_nodes
        WHERE node_key IN (SELECT unnest($keys)) AND node_kind IN ('pipeline_run', 'task_run')
        """,
        keys=[int(k) for k in run_keys],
    )


def artifacts_for(snapshot: Snapshot, digests: list[str]) -> pd.DataFrame:
    """The fct_artifacts rows (signing status included) of the given digests."""
    return query(
        snapshot,
        """
        SELECT artifact_digest, artifact_uri, artifact_kind, is_signed, producer_run_uid, pipeline_name,
               repo_url, commit_sha, produced_at
        FROM marts.fct_artifacts WHERE artifact_digest IN (SELECT unnest($digests))
        ORDER BY produced_at, artifact_digest
        """,
        digests=list(digests),
    )


def supply_chain_rows(snapshot: Snapshot, commit_ids: list[str]) -> pd.DataFrame:
    """The fct_supply_chains rows of the given `<repo_url>@<commit_sha>` nodes."""
    return query(
        snapshot,
        """
        SELECT repo_url, commit_sha, first_run_at, runs, succeeded_runs, artifacts, signed_artifacts,
               downstream_runs, downstream_failing, commit_at, lead_time_s, provenance_complete
        FROM marts.fct_supply_chains
        -- A semi-join on the sha column, then the exact node id on the few rows left: no concatenation per row.
        WHERE commit_sha IN (SELECT unnest($shas)) AND list_contains($ids, repo_url || '@' || commit_sha)
        ORDER BY first_run_at
        """,
        shas=sorted({c.rpartition("@")[2] for c in commit_ids}),
        ids=list(commit_ids),
    )


# ================================================================================================================
# Failures
# ================================================================================================================

# fct_failure_days carries each failure's run name, time and UTC day, sorted by day: no joins with the run-level
# marts and no per-row timestamp conversion (both dominated this page at 1M objects).
_FAILURES = f"""
    WITH scoped AS (
        SELECT * FROM marts.fct_failure_days WHERE {scope_sql()} AND day BETWEEN $start AND $end
    )
"""


def failure_causes_by_day(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    return query(
        snapshot,
        _FAILURES + "SELECT day, cause, count(*) AS failures FROM scoped GROUP BY ALL ORDER BY day, cause",
        **filters.params(),
    )


def top_failing_tasks(snapshot: Snapshot, filters: Filters, limit: int = 20) -> pd.DataFrame:
    return query(
        snapshot,
        _FAILURES
        + f"""
        SELECT pipeline_name, failed_pipeline_task, count(*) AS failures, mode(cause) AS main_cause
        FROM scoped WHERE failed_pipeline_task IS NOT NULL
        GROUP BY ALL ORDER BY failures DESC, pipeline_name, failed_pipeline_task LIMIT {int(limit)}
        """,
        **filters.params(),
    )


def top_failing_steps(snapshot: Snapshot, filters: Filters, limit: int = 20) -> pd.DataFrame:
    return query(
        snapshot,
        _FAILURES
        + f"""
        SELECT failed_step, count(*) AS failures, mode(exit_code) AS main_exit_code
        FROM scoped WHERE failed_step IS NOT NULL
        GROUP BY ALL ORDER BY failures DESC, failed_step LIMIT {int(limit)}
        """,
        **filters.params(),
    )


def exit_codes(snapshot: Snapshot, filters: Filters) -> pd.DataFrame:
    return query(
        snapshot,
        _FAILURES + "SELECT exit_code, count(*) AS failures FROM scoped WHERE exit_code IS NOT NULL "
        "GROUP BY ALL ORDER BY failures DESC, exit_code",
        **filters.params(),
    )


def failure_runs(snapshot: Snapshot, filters: Filters, cause: str | None, limit: int = 1000) -> pd.DataFrame:
    """The failing runs behind the charts, newest first, optionally of one cause."""
    return query(
        snapshot,
        _FAILURES
        + f"""
        SELECT failed_at, cause, run_kind, run_name, run_uid, cluster, namespace, pipeline_name,
               failed_pipeline_task, failed_step, exit_code, reason, message
        FROM scoped WHERE $cause IS NULL OR cause = $cause
        ORDER BY failed_at DESC, run_uid LIMIT {int(limit)}
        """,
        **filters.params(),
        cause=cause,
    )


# ================================================================================================================
# SQL page
# ================================================================================================================


class UserSqlError(WarehouseError):
    """The analyst's statement was refused or failed; the message is shown as is."""


@dataclass(frozen=True)
class UserQueryResult:
    frame: pd.DataFrame
    truncated: bool


def marts_schema(snapshot: Snapshot) -> pd.DataFrame:
    return query(
        snapshot,
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position
        """,
    )


def run_user_sql(
    path: str | Path, text: str, row_cap: int = SQL_ROW_CAP, timeout_s: float = SQL_TIMEOUT_S
) -> UserQueryResult:
    """Run one analyst SELECT/WITH statement read-only, at most `row_cap` rows, interrupted after `timeout_s`."""
    snapshot = current_snapshot(Path(path))
    if snapshot is None:
        raise UserSqlError(f"no published warehouse at {path}; {EMPTY_HINT}")
    con = _reader(snapshot)
    timer = threading.Timer(timeout_s, con.interrupt)
    try:
        statement = _single_select(con, text)
        timer.start()
        frame = con.sql(statement).limit(row_cap + 1).df()
    except UserSqlError:
        raise
    except duckdb.InterruptException:
        raise UserSqlError(
            f"the query ran longer than {timeout_s:g} s and was stopped; narrow it down"
        ) from None
    except duckdb.Error as exc:
        raise UserSqlError(str(exc).strip()) from None
    finally:
        timer.cancel()
        con.close()
    return UserQueryResult(frame.head(row_cap), truncated=len(frame) > row_cap)


def _single_select(con: duckdb.DuckDBPyConnection, text: str) -> str:
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise UserSqlError(str(exc).strip()) from None
    if len(statements) != 1:
        raise UserSqlError(f"enter exactly one statement (found {len(statements)})")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise UserSqlError(
            f"only SELECT or WITH queries are allowed (this is a {statement.type.name} statement)"
        )
    return statement.query.strip().rstrip(";")
