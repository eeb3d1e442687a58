{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'task_run_uid', 'affected': 'TaskRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#- One row per TaskRun: parent PipelineRun, pipeline task, status, times, retries and the first failing step. -#}
with task_runs as (
    select * from {{ ref('int_task_runs__linked') }}
    where true {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
)

select
    tr.cluster,
    tr.namespace,
    tr.task_run_uid,
    tr.task_run_name,
    tr.pipeline_run_uid,
    tr.pipeline_name,
    tr.pipeline_task,
    tr.task_name,
    tr.status,
    tr.reason,
    tr.created_at,
    tr.started_at,
    tr.completed_at,
    {{ seconds_between('tr.started_at', 'tr.completed_at') }} as duration_s,
    {{ seconds_between('tr.created_at', 'tr.started_at') }} as queue_s,
    {{ seconds_between('tr.started_at', 'steps.first_step_started_at') }} as pod_wait_s,
    tr.attempts,
    tr.failed_attempts,
    steps.failed_step,
    steps.exit_code,
    tr.order_at,
    tr.message,
    tr.is_signed,
    tr.api_version,
    tr.is_terminal
from task_runs as tr
left join {{ ref('int_task_runs__steps') }} as steps
    on steps.cluster = tr.cluster and steps.task_run_uid = tr.task_run_uid
