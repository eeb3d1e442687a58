{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  Terminal PipelineRuns with the UTC day they count on: the day of completed_at, or of created_at for runs that
  never started (cancelled or failed while pending). Each row reads only its run's fct_pipeline_runs row.
-#}
select
    cluster,
    namespace,
    pipeline_name,
    pipeline_run_uid,
    status,
    duration_s,
    queue_s,
    case
        when started_at is null then {{ utc_date('created_at') }}
        else {{ utc_date('coalesce(completed_at, started_at)') }}
    end as day
from {{ ref('fct_pipeline_runs') }}
where is_terminal {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
