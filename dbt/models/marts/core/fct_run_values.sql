{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  One row per (PipelineRun, param or result) with its value: what the Run comparison page shows next to the names
  in fct_run_comparisons.params_changed / results_changed. value_json is the same canonical JSON text those lists
  are decided on (so "changed" is exactly value_json differing); value_text is the plain string, or that JSON text
  for arrays and objects. A run's values come from its own object only, so an incremental build recomputes the
  affected PipelineRuns' rows (docs/dbt.md "Incremental builds"). Sorted by run, so a lookup of two runs reads a
  few row groups (appended batches form their own, small row groups).
-#}
with run_values as (
    select cluster, run_uid, run_kind, 'param' as value_kind, name, value_json, value_text
    from {{ ref('stg_tekton__run_params') }}
    where run_kind = 'PipelineRun' {{ affected_filter('cluster', 'run_uid', 'PipelineRun') }}
    union all
    select cluster, run_uid, run_kind, 'result' as value_kind, name, value_json, value_text
    from {{ ref('stg_tekton__run_results') }}
    where run_kind = 'PipelineRun' {{ affected_filter('cluster', 'run_uid', 'PipelineRun') }}
)

select cluster, run_uid, run_kind, value_kind, name, value_json, value_text
from run_values
order by run_uid, cluster, value_kind, name
