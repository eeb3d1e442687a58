{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  One row per (PipelineRun, pipeline_task). A pipeline task with several TaskRuns (matrix fan-out) takes the
  worst status among them (failed, timed_out, cancelled, running, pending, succeeded), its earliest start and
  latest completion.
-#}
with task_runs as (
    select
        cluster,
        pipeline_run_uid,
        pipeline_task,
        status,
        started_at,
        completed_at,
        case status
            when 'failed' then 1
            when 'timed_out' then 2
            when 'cancelled' then 3
            when 'running' then 4
            when 'pending' then 5
            else 6
        end as severity
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is not null and pipeline_task is not null {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

grouped as (
    select
        cluster,
        pipeline_run_uid,
        pipeline_task,
        min(severity) as severity,
        min(started_at) as started_at,
        max(completed_at) as completed_at,
        count(*) as task_runs
    from task_runs
    group by cluster, pipeline_run_uid, pipeline_task
)

select
    cluster,
    pipeline_run_uid,
    pipeline_task,
    case severity
        when 1 then 'failed'
        when 2 then 'timed_out'
        when 3 then 'cancelled'
        when 4 then 'running'
        when 5 then 'pending'
        else 'succeeded'
    end as status,
    {{ seconds_between('started_at', 'completed_at') }} as duration_s,
    task_runs
from grouped
