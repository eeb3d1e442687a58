{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'task_run_uid', 'affected': 'TaskRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#- Per TaskRun: when its first step started (for pod_wait_s) and its first step, in order, that exited non-zero. -#}
with steps as (
    select * from {{ ref('stg_tekton__steps') }}
    where true {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
),

first_failed as (
    select
        cluster,
        task_run_uid,
        step_name as failed_step,
        exit_code,
        row_number() over (partition by cluster, task_run_uid order by step_index) as position
    from steps
    where exit_code <> 0
),

first_started as (
    select cluster, task_run_uid, min(started_at) as first_step_started_at
    from steps
    group by cluster, task_run_uid
)

select
    fs.cluster,
    fs.task_run_uid,
    fs.first_step_started_at,
    ff.failed_step,
    ff.exit_code
from first_started as fs
left join first_failed as ff
    on ff.cluster = fs.cluster
    and ff.task_run_uid = fs.task_run_uid
    and ff.position = 1
