{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#- One row per PipelineRun: status, times, code source, trigger, rerun and child TaskRun counts. -#}
with pipeline_runs as (
    select * from {{ ref('stg_tekton__pipeline_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
)

select
    pr.cluster,
    pr.namespace,
    pr.pipeline_run_uid,
    pr.pipeline_run_name,
    pr.pipeline_name,
    pr.status,
    pr.reason,
    pr.message,
    pr.created_at,
    pr.started_at,
    pr.completed_at,
    {{ seconds_between('pr.started_at', 'pr.completed_at') }} as duration_s,
    {{ seconds_between('pr.created_at', 'pr.started_at') }} as queue_s,
    src.repo_url,
    src.commit_sha,
    src.commit_at,
    pr.trigger_event_id,
    pr.event_listener,
    pr.trigger_name,
    rerun.rerun_of_uid,
    coalesce(counts.task_run_count, 0) as task_run_count,
    coalesce(counts.failed_task_count, 0) as failed_task_count,
    pr.is_signed,
    pr.api_version,
    pr.order_at,
    pr.is_terminal,
    src.commit_author,
    src.commit_author_email,
    src.commit_message,
    src.trigger,
    pr.service_account
from pipeline_runs as pr
left join {{ ref('int_pipeline_runs__code_source') }} as src
    on src.cluster = pr.cluster and src.pipeline_run_uid = pr.pipeline_run_uid
left join {{ ref('int_pipeline_runs__reruns') }} as rerun
    on rerun.cluster = pr.cluster and rerun.pipeline_run_uid = pr.pipeline_run_uid
left join {{ ref('int_pipeline_runs__task_counts') }} as counts
    on counts.cluster = pr.cluster and counts.pipeline_run_uid = pr.pipeline_run_uid
