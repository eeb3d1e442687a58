{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'task_run_uid', 'affected': 'TaskRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  Each TaskRun with its parent PipelineRun. The owner reference (or the pipelineRunUID label) names the parent
  exactly; otherwise the `tekton.dev/pipelineRun` label names it within the namespace, and since names repeat after
  deletion we take the newest run of that name created no later than the TaskRun. `childReferences` is never used:
  it is missing from v1beta1 runs that predate it and from pruned records.
-#}
with task_runs as (
    select * from {{ ref('stg_tekton__task_runs') }}
    where true {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
),

pipeline_runs as (
    select cluster, pipeline_run_uid, namespace, pipeline_run_name, pipeline_name, created_at
    from {{ ref('stg_tekton__pipeline_runs') }}
),

by_name as (
    select
        tr.cluster,
        tr.task_run_uid,
        pr.pipeline_run_uid,
        row_number() over (
            partition by tr.cluster, tr.task_run_uid
            order by
                case when pr.created_at <= tr.created_at then 0 else 1 end,
                pr.created_at desc,
                pr.pipeline_run_uid desc
        ) as preference
    from task_runs as tr
    inner join pipeline_runs as pr
        on pr.cluster = tr.cluster
        and pr.namespace = tr.namespace
        and pr.pipeline_run_name = tr.label_pipeline_run_name
    where tr.owner_pipeline_run_uid is null and tr.label_pipeline_run_uid is null
),

linked as (
    select
        tr.*,
        coalesce(tr.owner_pipeline_run_uid, tr.label_pipeline_run_uid, by_name.pipeline_run_uid) as pipeline_run_uid
    from task_runs as tr
    left join by_name
        on by_name.cluster = tr.cluster
        and by_name.task_run_uid = tr.task_run_uid
        and by_name.preference = 1
)

select
    linked.*,
    coalesce(pr.pipeline_name, linked.label_pipeline) as pipeline_name
from linked
left join pipeline_runs as pr
    on pr.cluster = linked.cluster
    and pr.pipeline_run_uid = linked.pipeline_run_uid
