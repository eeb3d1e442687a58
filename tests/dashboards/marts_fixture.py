"""A small hand-made serving file (`tekton.duckdb`, schema `marts`) with the columns of data-model.md.

Used to develop and test the dashboards independently of the dbt models. The facts tables are generated from a seed
(two clusters, three namespaces, four pipelines, two weeks); the aggregates are derived from them in SQL with the
data-model rules, so the pages show a consistent picture. Tests never trust these derivations: they compute what
a page should show with their own SQL on the same file.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

LAST_DAY = datetime(2026, 3, 14, tzinfo=UTC)
DAYS = 14
PIPELINES = [
    ("prod", "ci", "build-api", "https://github.com/acme/api"),
    ("prod", "ci", "build-web", "https://github.com/acme/web"),
    ("prod", "release", "release-api", "https://github.com/acme/api"),
    ("staging", "ci", "build-api", "https://github.com/acme/api"),
]
TASKS = ["clone", "build", "test", "push"]
CAUSES = ["step_error", "timeout", "oom", "image_pull"]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _status(rng: random.Random, pipeline: str) -> str:
    roll = rng.random()
    fail_rate = 0.25 if pipeline == "build-web" else 0.12
    if roll < fail_rate:
        return "failed"
    if roll < fail_rate + 0.03:
        return "timed_out"
    if roll < fail_rate + 0.07:
        return "cancelled"
    return "succeeded"


def _facts(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """PipelineRuns, TaskRuns and failures, generated per pipeline in time order."""
    rng = random.Random(seed)
    runs, tasks, failures = [], [], []
    for cluster, namespace, pipeline, repo in PIPELINES:
        commit = _hex(rng, 40)
        for day in range(DAYS):
            base = LAST_DAY - timedelta(days=DAYS - 1 - day)
            for slot in range(rng.randint(3, 6)):
                if rng.random() < 0.4:
                    commit = _hex(rng, 40)
                created = base + timedelta(hours=2 + slot * 3, minutes=rng.randint(0, 50))
                queue = rng.uniform(1, 40)
                started = created + timedelta(seconds=queue)
                status = _status(rng, pipeline)
                uid = _uid(rng)
                name = f"{pipeline}-run-{_hex(rng, 5)}"
                task_names = TASKS + (["sign"] if pipeline == "release-api" else [])
                failing_task = rng.choice(task_names[1:]) if status in ("failed", "timed_out") else None
                clock = started
                failed_count = 0
                for pipeline_task in task_names:
                    t_duration = rng.uniform(5, 200) * (2.5 if pipeline_task == "test" else 1)
                    t_status = "succeeded"
                    failed_step = exit_code = None
                    if pipeline_task == failing_task:
                        t_status = "failed" if status == "failed" else "timed_out"
                        failed_step, exit_code = f"step-{pipeline_task}", rng.choice([1, 2, 137])
                        failed_count += 1
                    t_uid = _uid(rng)
                    tasks.append(
                        {
                            "cluster": cluster,
                            "namespace": namespace,
                            "task_run_uid": t_uid,
                            "task_run_name": f"{name}-{pipeline_task}",
                            "pipeline_run_uid": uid,
                            "pipeline_name": pipeline,
                            "pipeline_task": pipeline_task,
                            "task_name": pipeline_task,
                            "status": t_status,
                            "reason": "Failed" if t_status != "succeeded" else "Succeeded",
                            "created_at": clock,
                            "started_at": clock + timedelta(seconds=1),
                            "completed_at": clock + timedelta(seconds=1 + t_duration),
                            "duration_s": t_duration,
                            "queue_s": 1.0,
                            "pod_wait_s": rng.uniform(0.5, 5),
                            "attempts": 1,
                            "failed_attempts": 0,
                            "failed_step": failed_step,
                            "exit_code": exit_code,
                            "order_at": clock + timedelta(seconds=1),
                        }
                    )
                    clock += timedelta(seconds=1 + t_duration)
                    if t_status != "succeeded":
                        break
                duration = (clock - started).total_seconds()
                runs.append(
                    {
                        "cluster": cluster,
                        "namespace": namespace,
                        "pipeline_run_uid": uid,
                        "pipeline_run_name": name,
                        "pipeline_name": pipeline,
                        "status": status,
                        "reason": {"timed_out": "PipelineRunTimeout", "cancelled": "Cancelled"}.get(
                            status, "Failed" if status == "failed" else "Succeeded"
                        ),
                        "message": f"{name} {status}",
                        "created_at": created,
                        "started_at": started,
                        "completed_at": clock,
                        "duration_s": duration,
                        "queue_s": queue,
                        "repo_url": repo,
                        "commit_sha": commit,
                        "commit_at": created - timedelta(minutes=5),
                        "trigger_event_id": _uid(rng),
                        "event_listener": "github",
                        "trigger_name": "push",
                        "rerun_of_uid": None,
                        "task_run_count": len(task_names)
                        if failing_task is None
                        else task_names.index(failing_task) + 1,
                        "failed_task_count": failed_count,
                        "is_signed": status == "succeeded" and rng.random() < 0.8,
                        "api_version": "tekton.dev/v1",
                        "order_at": started,
                    }
                )
                if failing_task:
                    failures.append(
                        {
                            "cluster": cluster,
                            "namespace": namespace,
                            "run_uid": uid,
                            "run_kind": "PipelineRun",
                            "pipeline_name": pipeline,
                            "cause": "timeout"
                            if status == "timed_out"
                            else rng.choice(CAUSES[:1] + CAUSES[2:]),
                            "failed_pipeline_task": failing_task,
                            "failed_task_run_uid": tasks[-1]["task_run_uid"],
                            "failed_step": tasks[-1]["failed_step"],
                            "exit_code": tasks[-1]["exit_code"],
                            "reason": runs[-1]["reason"],
                            "message": runs[-1]["message"],
                        }
                    )
    return pd.DataFrame(runs), pd.DataFrame(tasks), pd.DataFrame(failures)


_TYPES = {
    "created_at": "TIMESTAMPTZ",
    "started_at": "TIMESTAMPTZ",
    "completed_at": "TIMESTAMPTZ",
    "commit_at": "TIMESTAMPTZ",
    "order_at": "TIMESTAMPTZ",
    "rerun_of_uid": "VARCHAR",
    "failed_step": "VARCHAR",
    "exit_code": "INTEGER",
}

_DERIVED = """
CREATE TABLE marts.agg_pipeline_daily AS
SELECT CAST(coalesce(completed_at, created_at) AS DATE) AS day, cluster, namespace, pipeline_name,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'timed_out') AS timed_out,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'succeeded')
         / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out')), 0) AS success_rate,
       quantile_cont(duration_s, 0.5) AS duration_p50_s, quantile_cont(duration_s, 0.95) AS duration_p95_s,
       quantile_cont(queue_s, 0.5) AS queue_p50_s, quantile_cont(queue_s, 0.95) AS queue_p95_s
FROM marts.fct_pipeline_runs WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
GROUP BY ALL;

CREATE TABLE marts.agg_reliability_daily AS
SELECT day, sum(runs) AS runs, sum(succeeded) AS succeeded, sum(failed) AS failed, sum(timed_out) AS timed_out,
       sum(cancelled) AS cancelled,
       sum(succeeded) / nullif(sum(succeeded) + sum(failed) + sum(timed_out), 0) AS success_rate,
       0.99 AS slo_target,
       (1 - sum(succeeded) / nullif(sum(succeeded) + sum(failed) + sum(timed_out), 0)) / (1 - 0.99)
         AS error_budget_burn
FROM marts.agg_pipeline_daily GROUP BY day;

-- Values: `revision` follows the commit, `build-args` is an array that never changes, IMAGE_DIGEST is a result of
-- succeeded runs only (so a failing run against a passing one differs by presence). fct_run_comparisons below
-- derives params_changed / results_changed from exactly these rules.
CREATE TABLE marts.fct_run_values AS
SELECT cluster, pipeline_run_uid AS run_uid, 'PipelineRun' AS run_kind, 'param' AS value_kind, 'revision' AS name,
       '"' || commit_sha || '"' AS value_json, commit_sha AS value_text
FROM marts.fct_pipeline_runs
UNION ALL
SELECT cluster, pipeline_run_uid, 'PipelineRun', 'param', 'build-args', '["--pull","' || pipeline_name || '"]',
       '["--pull","' || pipeline_name || '"]'
FROM marts.fct_pipeline_runs
UNION ALL
SELECT cluster, pipeline_run_uid, 'PipelineRun', 'result', 'IMAGE_DIGEST', '"sha256:' || sha256(pipeline_run_uid) || '"',
       'sha256:' || sha256(pipeline_run_uid)
FROM marts.fct_pipeline_runs WHERE status = 'succeeded';

CREATE TABLE marts.fct_run_comparisons AS
WITH ordered AS (
    SELECT *, lag(pipeline_run_uid) OVER w AS previous_run_uid, lag(status) OVER w AS previous_status,
           lag(duration_s) OVER w AS previous_duration_s, lag(commit_sha) OVER w AS previous_commit
    FROM marts.fct_pipeline_runs WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
    WINDOW w AS (PARTITION BY cluster, namespace, pipeline_name ORDER BY order_at, pipeline_run_uid)
)
SELECT cluster, namespace, pipeline_name, pipeline_run_uid, previous_run_uid, status, previous_status,
       CASE WHEN previous_run_uid IS NULL THEN 'first_run'
            WHEN 'cancelled' IN (status, previous_status) THEN 'other'
            WHEN previous_status = 'succeeded' AND status != 'succeeded' THEN 'regressed'
            WHEN previous_status != 'succeeded' AND status = 'succeeded' THEN 'recovered'
            WHEN status = 'succeeded' THEN 'still_passing' ELSE 'still_failing' END AS transition,
       duration_s, previous_duration_s, duration_s - previous_duration_s AS duration_delta_s,
       duration_s / nullif(previous_duration_s, 0) AS duration_ratio,
       CASE WHEN previous_run_uid IS NULL THEN NULL ELSE commit_sha != previous_commit END AS commit_changed,
       CASE WHEN previous_run_uid IS NULL THEN NULL
            WHEN commit_sha != previous_commit THEN ['revision'] ELSE CAST([] AS VARCHAR[]) END AS params_changed,
       CASE WHEN previous_run_uid IS NULL THEN NULL
            WHEN 'succeeded' IN (status, previous_status) THEN ['IMAGE_DIGEST'] ELSE CAST([] AS VARCHAR[])
       END AS results_changed,
       CAST([] AS VARCHAR[]) AS tasks_added, CAST([] AS VARCHAR[]) AS tasks_removed
FROM ordered;

CREATE TABLE marts.fct_pipeline_run_days AS
SELECT CAST(coalesce(p.completed_at, p.created_at) AS DATE) AS day, p.cluster, p.namespace, p.pipeline_name,
       p.pipeline_run_uid, p.pipeline_run_name, p.status, p.duration_s, p.queue_s, p.order_at, p.completed_at,
       p.commit_sha, c.previous_run_uid, c.previous_status, c.transition, c.commit_changed
FROM marts.fct_pipeline_runs p
JOIN marts.fct_run_comparisons c ON c.cluster = p.cluster AND c.pipeline_run_uid = p.pipeline_run_uid
ORDER BY day, p.cluster, p.namespace, p.pipeline_name, p.order_at, p.pipeline_run_uid;

CREATE TABLE marts.fct_failure_days AS
SELECT CAST(coalesce(p.completed_at, p.created_at) AS DATE) AS day, coalesce(p.completed_at, p.created_at) AS failed_at,
       f.cluster, f.namespace, f.run_uid, f.run_kind, p.pipeline_run_name AS run_name, f.pipeline_name, f.cause,
       f.failed_pipeline_task, f.failed_task_run_uid, f.failed_step, f.exit_code, f.reason, f.message
FROM marts.fct_failures f
LEFT JOIN marts.fct_pipeline_runs p ON p.cluster = f.cluster AND p.pipeline_run_uid = f.run_uid
ORDER BY day, failed_at, f.run_uid;

CREATE TABLE marts.fct_task_comparisons AS
SELECT c.pipeline_run_uid, c.previous_run_uid, t.pipeline_task, t.status, p.status AS previous_status,
       t.duration_s, p.duration_s AS previous_duration_s, t.duration_s - p.duration_s AS duration_delta_s
FROM marts.fct_run_comparisons c
JOIN marts.fct_task_runs t ON t.pipeline_run_uid = c.pipeline_run_uid
LEFT JOIN marts.fct_task_runs p ON p.pipeline_run_uid = c.previous_run_uid AND p.pipeline_task = t.pipeline_task;

CREATE TABLE marts.fct_flaky_evidence AS
WITH groups AS (
    SELECT cluster, namespace, pipeline_name, repo_url, commit_sha,
           arg_min(pipeline_run_uid, order_at) FILTER (WHERE status = 'succeeded') AS passing_uid
    FROM marts.fct_pipeline_runs WHERE status IN ('succeeded', 'failed', 'timed_out')
    GROUP BY ALL HAVING count(*) FILTER (WHERE status = 'succeeded') > 0
)
SELECT r.cluster, r.namespace, r.pipeline_name, CAST(NULL AS VARCHAR) AS pipeline_task,
       r.pipeline_run_uid AS failed_uid, g.passing_uid, r.commit_sha, 'same_commit' AS kind
FROM marts.fct_pipeline_runs r JOIN groups g USING (cluster, namespace, pipeline_name, repo_url, commit_sha)
WHERE r.status IN ('failed', 'timed_out');

CREATE TABLE marts.fct_flaky_evidence_runs AS
SELECT e.cluster, e.namespace, e.pipeline_name, e.pipeline_task, e.kind, e.commit_sha, e.failed_uid, e.passing_uid,
       f.pipeline_run_name AS failed_run, f.completed_at AS failed_at, p.pipeline_run_name AS passing_run
FROM marts.fct_flaky_evidence e
LEFT JOIN marts.fct_pipeline_runs f ON f.cluster = e.cluster AND f.pipeline_run_uid = e.failed_uid
LEFT JOIN marts.fct_pipeline_runs p ON p.cluster = e.cluster AND p.pipeline_run_uid = e.passing_uid
ORDER BY e.cluster, e.namespace, e.pipeline_name, failed_at DESC;

CREATE TABLE marts.fct_flaky_pipelines AS
WITH counted AS (
    SELECT *, CASE WHEN status = 'succeeded' THEN 0 ELSE 1 END AS failing,
           lag(CASE WHEN status = 'succeeded' THEN 0 ELSE 1 END)
             OVER (PARTITION BY cluster, namespace, pipeline_name ORDER BY order_at, pipeline_run_uid) AS prev_failing
    FROM marts.fct_pipeline_runs WHERE status IN ('succeeded', 'failed', 'timed_out')
), flaky AS (
    SELECT DISTINCT failed_uid FROM marts.fct_flaky_evidence WHERE pipeline_task IS NULL
)
SELECT cluster, namespace, pipeline_name, count(*) AS runs, sum(failing) AS failures,
       count(f.failed_uid) AS flaky_failures, count(f.failed_uid) / count(*) AS flaky_failure_rate,
       CASE WHEN count(*) < 2 THEN NULL
            ELSE count(*) FILTER (WHERE prev_failing IS NOT NULL AND prev_failing != failing) / (count(*) - 1)
       END AS flip_rate,
       coalesce(sum(duration_s) FILTER (WHERE f.failed_uid IS NOT NULL), 0) AS wasted_s,
       CASE WHEN count(f.failed_uid) > 0 THEN ['same_commit'] ELSE CAST([] AS VARCHAR[]) END AS evidence_kinds,
       min(completed_at) FILTER (WHERE f.failed_uid IS NOT NULL) AS first_flake_at,
       max(completed_at) FILTER (WHERE f.failed_uid IS NOT NULL) AS last_flake_at,
       count(f.failed_uid) > 0 AS is_flaky
FROM counted LEFT JOIN flaky f ON f.failed_uid = counted.pipeline_run_uid
GROUP BY ALL;

CREATE TABLE marts.fct_flaky_tasks AS
SELECT t.cluster, t.namespace, t.pipeline_name, t.pipeline_task, count(*) AS runs,
       count(*) FILTER (WHERE t.status != 'succeeded') AS failures,
       count(*) FILTER (WHERE t.status != 'succeeded' AND e.failed_uid IS NOT NULL) AS flaky_failures,
       0 AS retry_passes,
       count(*) FILTER (WHERE t.status != 'succeeded' AND e.failed_uid IS NOT NULL) / count(*) AS flaky_failure_rate,
       CAST(NULL AS DOUBLE) AS flip_rate,
       coalesce(sum(t.duration_s) FILTER (WHERE t.status != 'succeeded' AND e.failed_uid IS NOT NULL), 0)
         AS wasted_s,
       count(*) FILTER (WHERE t.status != 'succeeded' AND e.failed_uid IS NOT NULL) > 0 AS is_flaky
FROM marts.fct_task_runs t
LEFT JOIN (SELECT DISTINCT failed_uid FROM marts.fct_flaky_evidence) e ON e.failed_uid = t.pipeline_run_uid
GROUP BY ALL;

CREATE TABLE marts.dim_pipelines AS
SELECT cluster, namespace, pipeline_name, min(created_at) AS first_run_at, max(created_at) AS last_run_at,
       count(*) AS runs, arg_max(status, order_at) AS last_status, mode(repo_url) AS repo_url
FROM marts.fct_pipeline_runs GROUP BY ALL;

CREATE TABLE marts.fct_artifacts AS
SELECT 'sha256:' || sha256(pipeline_run_uid) AS artifact_digest,
       'registry.example.com/acme/' || pipeline_name AS artifact_uri, 'image' AS artifact_kind,
       pipeline_run_uid AS producer_run_uid, cluster, namespace, pipeline_name, repo_url, commit_sha,
       completed_at AS produced_at, is_signed
FROM marts.fct_pipeline_runs WHERE status = 'succeeded' AND pipeline_name LIKE 'build-%';

CREATE TABLE marts.fct_lineage_edges AS
SELECT 'commit' AS source_kind, repo_url || '@' || commit_sha AS source_id, 'pipeline_run' AS target_kind,
       pipeline_run_uid AS target_id, 'triggers' AS relation, created_at AS observed_at
FROM marts.fct_pipeline_runs
UNION ALL
SELECT 'pipeline_run', pipeline_run_uid, 'task_run', task_run_uid, 'contains', created_at FROM marts.fct_task_runs
UNION ALL
SELECT 'pipeline_run', producer_run_uid, 'artifact', artifact_digest, 'produces', produced_at FROM marts.fct_artifacts
UNION ALL
-- Each release run consumes the newest api image built before it in the same cluster.
SELECT 'artifact', a.artifact_digest, 'pipeline_run', r.pipeline_run_uid, 'consumed_by', r.created_at
FROM marts.fct_pipeline_runs r
ASOF JOIN marts.fct_artifacts a
  ON a.cluster = r.cluster AND a.pipeline_name = 'build-api' AND r.created_at >= a.produced_at
WHERE r.pipeline_name = 'release-api';

CREATE TABLE marts.fct_lineage_nodes AS
WITH ends AS (
    SELECT source_id AS node_id, source_kind AS node_kind, observed_at FROM marts.fct_lineage_edges
    UNION ALL
    SELECT target_id, target_kind, observed_at FROM marts.fct_lineage_edges
), nodes AS (
    SELECT node_id, min(node_kind) AS node_kind, min(observed_at) AS first_at FROM ends GROUP BY node_id
), labels AS (
    SELECT pipeline_run_uid AS node_id, pipeline_run_name AS run_name, pipeline_name AS run_pipeline, status
    FROM marts.fct_pipeline_runs
    UNION ALL
    SELECT task_run_uid, task_run_name, coalesce(pipeline_task, task_name), status FROM marts.fct_task_runs
)
SELECT row_number() OVER (ORDER BY n.first_at, n.node_id) AS node_key, n.node_kind, n.node_id, n.first_at,
       l.run_name, l.run_pipeline, l.status AS run_status
FROM nodes n LEFT JOIN labels l ON l.node_id = n.node_id AND n.node_kind IN ('pipeline_run', 'task_run')
ORDER BY node_key;

CREATE TABLE marts.fct_lineage_node_ids AS SELECT node_id, node_key FROM marts.fct_lineage_nodes ORDER BY node_id;

CREATE TABLE marts.fct_lineage_graph AS
SELECT s.node_key AS source_key, t.node_key AS target_key, e.relation, e.observed_at
FROM marts.fct_lineage_edges e
JOIN marts.fct_lineage_nodes s ON s.node_id = e.source_id
JOIN marts.fct_lineage_nodes t ON t.node_id = e.target_id
ORDER BY source_key, target_key;

CREATE TABLE marts.fct_supply_chains AS
WITH arts AS (
    SELECT repo_url, commit_sha, count(DISTINCT artifact_digest) AS artifacts,
           count(DISTINCT artifact_digest) FILTER (WHERE is_signed) AS signed_artifacts,
           bool_and(is_signed) AS all_signed
    FROM marts.fct_artifacts GROUP BY ALL
), downstream AS (
    SELECT a.repo_url, a.commit_sha, count(DISTINCT r.pipeline_run_uid) AS downstream_runs,
           count(DISTINCT r.pipeline_run_uid) FILTER (WHERE r.status IN ('failed', 'timed_out')) AS downstream_failing
    FROM marts.fct_artifacts a
    JOIN marts.fct_lineage_edges e ON e.relation = 'consumed_by' AND e.source_id = a.artifact_digest
    JOIN marts.fct_pipeline_runs r ON r.pipeline_run_uid = e.target_id
    GROUP BY ALL
)
SELECT r.repo_url, r.commit_sha, min(r.created_at) AS first_run_at, count(*) AS runs,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded_runs,
       coalesce(any_value(a.artifacts), 0) AS artifacts, coalesce(any_value(a.signed_artifacts), 0) AS signed_artifacts,
       coalesce(any_value(d.downstream_runs), 0) AS downstream_runs,
       coalesce(any_value(d.downstream_failing), 0) AS downstream_failing,
       min(r.commit_at) AS commit_at,
       epoch(min(r.completed_at) FILTER (WHERE r.status = 'succeeded')) - epoch(min(r.commit_at)) AS lead_time_s,
       coalesce(any_value(a.artifacts), 0) > 0 AND coalesce(any_value(a.all_signed), false) AS provenance_complete
FROM marts.fct_pipeline_runs r
LEFT JOIN arts a USING (repo_url, commit_sha)
LEFT JOIN downstream d USING (repo_url, commit_sha)
GROUP BY r.repo_url, r.commit_sha;
"""


def build_marts_file(path: Path, seed: int = 7) -> Path:
    """Write a populated serving file at `path` the way publish does: to a temp file, then rename over."""
    runs, tasks, failures = _facts(seed)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA marts")
        for table, frame in (
            ("fct_pipeline_runs", runs),
            ("fct_task_runs", tasks),
            ("fct_failures", failures),
        ):
            con.register("frame", frame)
            columns = ", ".join(
                f"CAST({c} AS {_TYPES[c]}) AS {c}" if c in _TYPES else c for c in frame.columns
            )
            con.execute(f"CREATE TABLE marts.{table} AS SELECT {columns} FROM frame")
            con.unregister("frame")
        con.execute(_DERIVED)
    finally:
        con.close()
    os.replace(tmp, path)
    return path


def build_empty_marts_file(path: Path) -> Path:
    """A serving file whose marts exist but hold no rows (a fresh warehouse with nothing ingested yet)."""
    build_marts_file(path)
    con = duckdb.connect(str(path))
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
            ).fetchall()
        ]
        for table in tables:
            con.execute(f"DELETE FROM marts.{table}")
    finally:
        con.close()
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".warehouse/tekton.duckdb")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(build_marts_file(target))
