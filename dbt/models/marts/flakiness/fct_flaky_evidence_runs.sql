{#-
  fct_flaky_evidence with the names of the failing and passing runs and when the failing run completed, sorted by
  pipeline: the Flakiness page reads one pipeline's rows here instead of joining the evidence with
  fct_pipeline_runs and fct_task_runs (two scans of each per view at 1M objects).
-#}
with runs as (
    select cluster, pipeline_run_uid as run_uid, pipeline_run_name as run_name, completed_at
    from {{ ref('fct_pipeline_runs') }}
    union all
    select cluster, task_run_uid, task_run_name, completed_at
    from {{ ref('fct_task_runs') }}
)

select
    evidence.cluster,
    evidence.namespace,
    evidence.pipeline_name,
    evidence.pipeline_task,
    evidence.kind,
    evidence.commit_sha,
    evidence.failed_uid,
    evidence.passing_uid,
    failed.run_name as failed_run,
    failed.completed_at as failed_at,
    passing.run_name as passing_run
from {{ ref('fct_flaky_evidence') }} as evidence
left join runs as failed on failed.cluster = evidence.cluster and failed.run_uid = evidence.failed_uid
left join runs as passing on passing.cluster = evidence.cluster and passing.run_uid = evidence.passing_uid
order by
    evidence.cluster, evidence.namespace, evidence.pipeline_name, failed_at desc nulls last, evidence.failed_uid,
    evidence.kind
