{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  TaskRuns of a PipelineRun that can count for flakiness: terminal and not cancelled, with their PipelineRun's
  repo_url and commit_sha. Standalone TaskRuns have no pipeline task to be flaky in, so they are left out.
  int_flaky__counted_task_runs keeps those inside the window. A table keyed by the PipelineRun (a row reads its
  TaskRun and that run's commit; a changed TaskRun makes its old and new PipelineRun affected), so the flakiness
  marts and their tests read stored rows instead of joining ~800k TaskRuns with their PipelineRuns each.
-#}
{#- Both sides pick the affected PipelineRuns before the join: a filter after it joined every TaskRun of the history
    first (0.5-0.8 s at 1M in a keyed build). -#}
with task_runs as (
    select * from {{ ref('fct_task_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

pipeline_runs as (
    select * from {{ ref('fct_pipeline_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

final as (
    select
        task_runs.cluster,
        task_runs.namespace,
        task_runs.pipeline_name,
        task_runs.pipeline_task,
        task_runs.task_run_uid,
        task_runs.pipeline_run_uid,
        task_runs.status,
        {{ is_failing_status('task_runs.status') }} as is_failing,
        task_runs.failed_attempts,
        task_runs.order_at,
        task_runs.completed_at,
        task_runs.duration_s,
        pipeline_runs.repo_url,
        pipeline_runs.commit_sha
    from task_runs
    left join pipeline_runs
        on pipeline_runs.cluster = task_runs.cluster
        and pipeline_runs.pipeline_run_uid = task_runs.pipeline_run_uid
    where task_runs.status in ('succeeded', 'failed', 'timed_out')
        and task_runs.pipeline_run_uid is not null
        and task_runs.pipeline_task is not null
)

select * from final
