{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'comparisons'}},
    )
}}
/* depends_on: {{ ref('int_run_comparisons__affected') }} (the pre-hook and the filter read it) */

{#-
  One row per (terminal PipelineRun, pipeline_task present in it), compared with the same pipeline task in the
  previous terminal run of the pipeline (previous_* null when that run had no such task).
-#}
with pairs as (
    select cluster, pipeline_run_uid, previous_run_uid
    from {{ ref('int_pipeline_runs__previous') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'comparisons') }}
),

pipeline_tasks as (
    select * from {{ ref('int_pipeline_runs__pipeline_tasks') }}
)

select
    pairs.cluster,
    pairs.pipeline_run_uid,
    pairs.previous_run_uid,
    current_task.pipeline_task,
    current_task.status,
    previous_task.status as previous_status,
    current_task.duration_s,
    previous_task.duration_s as previous_duration_s,
    current_task.duration_s - previous_task.duration_s as duration_delta_s
from pairs
inner join pipeline_tasks as current_task
    on current_task.cluster = pairs.cluster and current_task.pipeline_run_uid = pairs.pipeline_run_uid
left join pipeline_tasks as previous_task
    on previous_task.cluster = pairs.cluster
    and previous_task.pipeline_run_uid = pairs.previous_run_uid
    and previous_task.pipeline_task = current_task.pipeline_task
