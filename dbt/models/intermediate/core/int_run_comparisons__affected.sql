{{ config(materialized='table', tags=['incremental_runs']) }}
/* depends_on: {{ ref('int_build__affected_runs') }}, {{ ref('int_pipeline_runs__previous') }} */

{#-
  The compared PipelineRuns whose comparison rows (fct_run_comparisons, fct_task_comparisons,
  int_run_comparisons__value_diffs) must be recomputed: affected runs themselves, and runs whose previous run is an
  affected run now or was one before this build. A pairing only changes when a run enters, leaves or moves within
  a pipeline's order, i.e. when the old or new neighbour is affected. Empty outside an incremental build.
-#}
{%- set watermark = build_watermark() if not flags.FULL_REFRESH else '' %}
{%- set old_comparisons = existing_relation('marts', 'fct_run_comparisons') %}
{%- if watermark == '' %}
select null::varchar as cluster, null::varchar as pipeline_run_uid
where false
{%- else %}
with affected as (
    select cluster, run_uid
    from {{ ref('int_build__affected_runs') }}
    where run_kind = 'PipelineRun'
)

select cluster, run_uid as pipeline_run_uid from affected
union
select p.cluster, p.pipeline_run_uid
from {{ ref('int_pipeline_runs__previous') }} as p
semi join affected as a on a.cluster = p.cluster and a.run_uid = p.previous_run_uid
{%- if old_comparisons is not none %}
union
select old.cluster, old.pipeline_run_uid
from {{ old_comparisons }} as old
semi join affected as a on a.cluster = old.cluster and a.run_uid = old.previous_run_uid
{%- endif %}
{%- endif %}
