{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  One row per fct_failures row with the run's name, when it failed (the run's completed_at, else created_at) and
  that UTC day: the Failures page reads this day-sorted table instead of joining fct_failures with the run-level
  marts and converting every timestamp per query. A row reads its run's fct_failures row and name only, so an
  incremental build recomputes the affected runs (appended rows form their own small, day-sorted row groups).
-#}
with failures as (
    select * from {{ ref('fct_failures') }}
    where true {{ affected_filter('cluster', 'run_uid', 'runs') }}
),

names as (
    select cluster, pipeline_run_uid as run_uid, pipeline_run_name as run_name, completed_at, created_at
    from {{ ref('fct_pipeline_runs') }}
    union all
    select cluster, task_run_uid, task_run_name, completed_at, created_at
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is null
),

dated as (
    select
        failures.*,
        names.run_name,
        coalesce(names.completed_at, names.created_at, failures.completed_at, failures.created_at) as failed_at
    from failures
    left join names on names.cluster = failures.cluster and names.run_uid = failures.run_uid
)

select
    {{ utc_date('failed_at') }} as day,
    failed_at,
    cluster,
    namespace,
    run_uid,
    run_kind,
    run_name,
    pipeline_name,
    cause,
    failed_pipeline_task,
    failed_task_run_uid,
    failed_step,
    exit_code,
    reason,
    message
from dated
order by day, failed_at, run_uid
