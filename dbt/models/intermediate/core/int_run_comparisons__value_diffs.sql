{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'comparisons'}},
    )
}}
/* depends_on: {{ ref('int_run_comparisons__affected') }} (the pre-hook and the filter read it) */

{#-
  Per compared pair and kind ('param' | 'result'): names whose canonical JSON values differ between the run and
  its previous run, including names present on one side only.
-#}
with pairs as (
    select cluster, pipeline_run_uid, previous_run_uid
    from {{ ref('int_pipeline_runs__previous') }}
    where previous_run_uid is not null {{ affected_filter('cluster', 'pipeline_run_uid', 'comparisons') }}
),

run_values as (
    select 'param' as kind, cluster, run_uid, name, value_json
    from {{ ref('stg_tekton__run_params') }}
    where run_kind = 'PipelineRun'
    union all
    select 'result' as kind, cluster, run_uid, name, value_json
    from {{ ref('stg_tekton__run_results') }}
    where run_kind = 'PipelineRun'
),

both_sides as (
    select p.cluster, p.pipeline_run_uid, v.kind, v.name, 'current' as side, v.value_json
    from pairs as p
    inner join run_values as v on v.cluster = p.cluster and v.run_uid = p.pipeline_run_uid
    union all
    select p.cluster, p.pipeline_run_uid, v.kind, v.name, 'previous' as side, v.value_json
    from pairs as p
    inner join run_values as v on v.cluster = p.cluster and v.run_uid = p.previous_run_uid
)

select cluster, pipeline_run_uid, kind, name
from both_sides
group by cluster, pipeline_run_uid, kind, name
having count(distinct side) < 2 or count(distinct coalesce(value_json, 'null')) > 1
