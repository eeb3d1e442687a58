{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'comparisons'}},
    )
}}
/* depends_on: {{ ref('int_run_comparisons__affected') }} (the pre-hook and the filter read it) */

{#-
  One row per terminal PipelineRun with the UTC day it counts on (the agg_pipeline_daily rule) and its comparison
  with the previous run: a narrow, day-sorted copy of fct_pipeline_runs + fct_run_comparisons for the dashboards'
  time-ranged pages (trends, KPI percentiles, regressions, run lists). Reading it instead of the run-level marts
  avoids a per-row timestamptz → date conversion (ICU, the dominant cost at 1M objects) and the join. A row reads
  its run's row and its comparison, so an incremental build recomputes the compared runs that are redone (a
  superset of the affected PipelineRuns); appended rows form their own small, day-sorted row groups.
-#}
with days as (
    select cluster, pipeline_run_uid, day from {{ ref('int_pipeline_runs__terminal_days') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'comparisons') }}
)

select
    days.day,
    runs.cluster,
    runs.namespace,
    runs.pipeline_name,
    runs.pipeline_run_uid,
    runs.pipeline_run_name,
    runs.status,
    runs.duration_s,
    runs.queue_s,
    runs.order_at,
    runs.completed_at,
    runs.commit_sha,
    comparisons.previous_run_uid,
    comparisons.previous_status,
    comparisons.transition,
    comparisons.commit_changed
from days
inner join {{ ref('fct_pipeline_runs') }} as runs
    on runs.cluster = days.cluster and runs.pipeline_run_uid = days.pipeline_run_uid
left join {{ ref('fct_run_comparisons') }} as comparisons
    on comparisons.cluster = days.cluster and comparisons.pipeline_run_uid = days.pipeline_run_uid
order by days.day, runs.cluster, runs.namespace, runs.pipeline_name, runs.order_at, runs.pipeline_run_uid
