{#- Several parents: Dagster attaches this check to fct_failures (dagster-dbt reads meta dagster.ref). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_failures'}}}) }}
{#-
  fct_failures holds exactly the failing PipelineRuns and standalone TaskRuns: none missing, none extra, and a
  cause taken from a TaskRun names a failing TaskRun of that PipelineRun.
-#}
with failing as (
    select cluster, pipeline_run_uid as run_uid, 'PipelineRun' as run_kind
    from {{ ref('fct_pipeline_runs') }}
    where status in ('failed', 'timed_out')
    union all
    select cluster, task_run_uid, 'TaskRun'
    from {{ ref('fct_task_runs') }}
    where status in ('failed', 'timed_out') and pipeline_run_uid is null
),

failures as (
    select * from {{ ref('fct_failures') }}
)

select coalesce(failing.run_uid, failures.run_uid) as run_uid, 'missing or extra' as problem
from failing
full outer join failures
    on failures.cluster = failing.cluster
    and failures.run_uid = failing.run_uid
    and failures.run_kind = failing.run_kind
where failing.run_uid is null or failures.run_uid is null
union all
select failures.run_uid, 'cause from a TaskRun that is not a failing child'
from failures
left join {{ ref('fct_task_runs') }} as task_runs
    on task_runs.cluster = failures.cluster and task_runs.task_run_uid = failures.failed_task_run_uid
where failures.run_kind = 'PipelineRun'
    and failures.failed_task_run_uid is not null
    and (
        task_runs.task_run_uid is null
        or task_runs.pipeline_run_uid <> failures.run_uid
        or task_runs.status not in ('failed', 'timed_out')
    )
