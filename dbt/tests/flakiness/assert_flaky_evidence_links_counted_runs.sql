{#- Several parents: Dagster attaches this check to fct_flaky_evidence (dagster-dbt reads meta dagster.ref). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_flaky_evidence'}}}) }}
{#-
  Evidence joins runs that count: pipeline-level failed/passing uids are counted PipelineRuns of the same pipeline,
  with the failing one failing and the passing one succeeded (task level likewise with counted TaskRuns).
-#}
with pipeline_runs as (
    select * from {{ ref('int_flaky__counted_pipeline_runs') }}
),

task_runs as (
    select * from {{ ref('int_flaky__counted_task_runs') }}
),

evidence as (
    select * from {{ ref('fct_flaky_evidence') }}
)

select evidence.*
from evidence
left join pipeline_runs as failed
    on failed.cluster = evidence.cluster and failed.pipeline_run_uid = evidence.failed_uid
left join pipeline_runs as passed
    on passed.cluster = evidence.cluster and passed.pipeline_run_uid = evidence.passing_uid
where evidence.level = 'pipeline'
    and (
        failed.pipeline_run_uid is null or not failed.is_failing
        or passed.pipeline_run_uid is null or passed.status <> 'succeeded'
        or failed.pipeline_name <> evidence.pipeline_name
    )
union all
select evidence.*
from evidence
left join task_runs as failed
    on failed.cluster = evidence.cluster and failed.task_run_uid = evidence.failed_uid
left join task_runs as passed
    on passed.cluster = evidence.cluster and passed.task_run_uid = evidence.passing_uid
where evidence.level = 'task'
    and (
        failed.task_run_uid is null
        or passed.task_run_uid is null or passed.status <> 'succeeded'
        or (evidence.kind = 'same_commit' and not failed.is_failing)
        or (evidence.kind = 'retry_pass' and failed.failed_attempts < 1)
        or failed.pipeline_task <> evidence.pipeline_task
    )
