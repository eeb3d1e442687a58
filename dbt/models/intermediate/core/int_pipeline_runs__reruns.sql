{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  `dashboard.tekton.dev/rerunOf` names the original run; names repeat after deletion, so the original is the
  newest run of that name in the same namespace created before the rerun.
-#}
with pipeline_runs as (
    select cluster, pipeline_run_uid, namespace, pipeline_run_name, created_at, rerun_of_name
    from {{ ref('stg_tekton__pipeline_runs') }}
),

candidates as (
    select
        rerun.cluster,
        rerun.pipeline_run_uid,
        original.pipeline_run_uid as rerun_of_uid,
        row_number() over (
            partition by rerun.cluster, rerun.pipeline_run_uid
            order by original.created_at desc, original.pipeline_run_uid desc
        ) as position
    from pipeline_runs as rerun
    inner join pipeline_runs as original
        on original.cluster = rerun.cluster
        and original.namespace = rerun.namespace
        and original.pipeline_run_name = rerun.rerun_of_name
        and original.created_at < rerun.created_at
    where rerun.rerun_of_name is not null {{ affected_filter('rerun.cluster', 'rerun.pipeline_run_uid', 'PipelineRun') }}
)

select cluster, pipeline_run_uid, rerun_of_uid
from candidates
where position = 1
