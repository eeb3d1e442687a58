{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#- Child TaskRuns per PipelineRun, and how many of them are failing (failed or timed out). -#}
select
    cluster,
    pipeline_run_uid,
    count(*) as task_run_count,
    count(*) filter (where {{ is_failing_status('status') }}) as failed_task_count
from {{ ref('int_task_runs__linked') }}
where pipeline_run_uid is not null {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
group by cluster, pipeline_run_uid
