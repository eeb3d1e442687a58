{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'task_run_uid', 'affected': 'TaskRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  Every failing TaskRun (standalone or inside a PipelineRun) with its cause. Step signals are aggregated only for
  failing TaskRuns, so the steps table is read once and joined on its key. A TaskRun's row reads only its own
  fct_task_runs row and steps, so an incremental build recomputes the affected TaskRuns.
-#}
with failing_task_runs as (
    select *
    from {{ ref('fct_task_runs') }}
    where {{ is_failing_status('status') }} {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
),

step_signals as (
    select
        steps.cluster,
        steps.task_run_uid,
        max(case when steps.terminated_reason = 'OOMKilled' then 1 else 0 end) = 1 as has_oom_step,
        max(case when steps.waiting_reason in {{ image_pull_waiting_reasons() }} then 1 else 0 end) = 1
            as has_image_pull_wait,
        max(case when steps.exit_code <> 0 then 1 else 0 end) = 1 as has_failed_step
    from {{ ref('stg_tekton__steps') }} as steps
    inner join failing_task_runs
        on failing_task_runs.cluster = steps.cluster
        and failing_task_runs.task_run_uid = steps.task_run_uid
    group by steps.cluster, steps.task_run_uid
)

select
    task_runs.cluster,
    task_runs.namespace,
    task_runs.task_run_uid,
    task_runs.pipeline_run_uid,
    task_runs.pipeline_name,
    task_runs.pipeline_task,
    task_runs.status,
    task_runs.reason,
    task_runs.message,
    task_runs.created_at,
    task_runs.order_at,
    task_runs.completed_at,
    task_runs.failed_step,
    task_runs.exit_code,
    {{ failure_cause(
        'task_runs.reason',
        'task_runs.message',
        'coalesce(step_signals.has_oom_step, false)',
        'coalesce(step_signals.has_image_pull_wait, false)',
        'coalesce(step_signals.has_failed_step, false)',
    ) }} as cause
from failing_task_runs as task_runs
left join step_signals
    on step_signals.cluster = task_runs.cluster
    and step_signals.task_run_uid = task_runs.task_run_uid
