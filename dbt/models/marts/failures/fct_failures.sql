{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  One row per failing PipelineRun or standalone TaskRun, with its cause. A PipelineRun takes the cause of its first
  failing TaskRun by completed_at (reason, message, step and exit code come from that TaskRun), or its own cause
  from its reason and message when no TaskRun of it failed. A PipelineRun's row reads its own row and its
  TaskRuns' causes (a changed TaskRun makes its old and new parents affected), a standalone TaskRun's only its
  own, so an incremental build recomputes the affected runs of either kind.
-#}
with task_causes as (
    select * from {{ ref('int_failures__task_run_causes') }}
),

ranked_failing_tasks as (
    select
        *,
        row_number() over (
            partition by cluster, pipeline_run_uid
            order by completed_at nulls last, order_at, task_run_uid
        ) as failure_rank
    from task_causes
    where pipeline_run_uid is not null {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

first_failing_tasks as (
    select * from ranked_failing_tasks where failure_rank = 1
),

pipeline_failures as (
    select
        runs.cluster,
        runs.namespace,
        runs.pipeline_run_uid as run_uid,
        'PipelineRun' as run_kind,
        runs.pipeline_name,
        coalesce(
            first_task.cause,
            {{ failure_cause('runs.reason', 'runs.message', 'false', 'false', 'false') }}
        ) as cause,
        first_task.pipeline_task as failed_pipeline_task,
        first_task.task_run_uid as failed_task_run_uid,
        first_task.failed_step,
        first_task.exit_code,
        case when first_task.task_run_uid is null then runs.reason else first_task.reason end as reason,
        case when first_task.task_run_uid is null then runs.message else first_task.message end as message,
        runs.status,
        runs.created_at,
        runs.completed_at
    from {{ ref('fct_pipeline_runs') }} as runs
    left join first_failing_tasks as first_task
        on first_task.cluster = runs.cluster
        and first_task.pipeline_run_uid = runs.pipeline_run_uid
    where {{ is_failing_status('runs.status') }} {{ affected_filter('runs.cluster', 'runs.pipeline_run_uid', 'PipelineRun') }}
),

standalone_failures as (
    select
        task_causes.cluster,
        task_causes.namespace,
        task_causes.task_run_uid as run_uid,
        'TaskRun' as run_kind,
        task_causes.pipeline_name,
        task_causes.cause,
        cast(null as varchar) as failed_pipeline_task,
        task_causes.task_run_uid as failed_task_run_uid,
        task_causes.failed_step,
        task_causes.exit_code,
        task_causes.reason,
        task_causes.message,
        task_causes.status,
        task_causes.created_at,
        task_causes.completed_at
    from task_causes
    where task_causes.pipeline_run_uid is null
        {{- affected_filter('task_causes.cluster', 'task_causes.task_run_uid', 'TaskRun') }}
)

select * from pipeline_failures
union all
select * from standalone_failures
