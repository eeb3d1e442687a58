{{ config(materialized='table', tags=['incremental_runs']) }}
/* depends_on: {{ source('raw', 'tekton_objects') }}, {{ ref('stg_tekton__task_runs') }}, {{ ref('stg_tekton__pipeline_runs') }} */

{#-
  The runs whose rows in the incremental models must be recomputed in this build (docs/dbt.md "Incremental
  builds"): every PipelineRun / TaskRun ingested after the watermark, widened to the runs whose derived rows read
  them. Empty on a full refresh or without a watermark (every tagged model is then rebuilt whole).
  - TaskRuns: changed ones; those whose owner or pipelineRunUID label names a changed PipelineRun; unlinked ones
    whose pipelineRun label names a changed PipelineRun's (namespace, name) (linking by name may move).
  - PipelineRuns: changed ones; the old and new parents of those TaskRuns (child counts, code source, tasks);
    every candidate parent by name; reruns whose rerunOf names a changed run (rerun_of_uid may move).
-#}
{%- set watermark = build_watermark() if not flags.FULL_REFRESH else '' %}
{%- set old_task_runs = existing_relation('marts', 'fct_task_runs') %}
{%- if watermark == '' %}
select null::varchar as cluster, null::varchar as run_uid, null::varchar as run_kind
where false
{%- else %}
with changed as (
    select cluster, uid, kind
    from {{ source('raw', 'tekton_objects') }}
    where ingested_at > '{{ watermark }}'::timestamptz and kind in ('PipelineRun', 'TaskRun')
),

task_runs as (
    select cluster, task_run_uid, namespace, label_pipeline_run_name, label_pipeline_run_uid, owner_pipeline_run_uid
    from {{ ref('stg_tekton__task_runs') }}
),

pipeline_runs as (
    select cluster, pipeline_run_uid, namespace, pipeline_run_name, rerun_of_name
    from {{ ref('stg_tekton__pipeline_runs') }}
),

changed_pipeline_runs as (
    select pr.*
    from pipeline_runs as pr
    semi join changed on changed.cluster = pr.cluster and changed.uid = pr.pipeline_run_uid
        and changed.kind = 'PipelineRun'
),

changed_names as (
    select distinct cluster, namespace, pipeline_run_name from changed_pipeline_runs
),

affected_task_runs as (
    select cluster, uid as task_run_uid from changed where kind = 'TaskRun'
    union
    select tr.cluster, tr.task_run_uid
    from task_runs as tr
    inner join changed_pipeline_runs as pr
        on pr.cluster = tr.cluster and pr.pipeline_run_uid = tr.owner_pipeline_run_uid
    union
    select tr.cluster, tr.task_run_uid
    from task_runs as tr
    inner join changed_pipeline_runs as pr
        on pr.cluster = tr.cluster and pr.pipeline_run_uid = tr.label_pipeline_run_uid
    union
    select tr.cluster, tr.task_run_uid
    from task_runs as tr
    inner join changed_names as n
        on n.cluster = tr.cluster and n.namespace = tr.namespace and n.pipeline_run_name = tr.label_pipeline_run_name
    where tr.owner_pipeline_run_uid is null and tr.label_pipeline_run_uid is null
),

affected_task_run_rows as (
    select tr.*
    from task_runs as tr
    semi join affected_task_runs as a on a.cluster = tr.cluster and a.task_run_uid = tr.task_run_uid
),

affected_pipeline_runs as (
    select cluster, uid as pipeline_run_uid from changed where kind = 'PipelineRun'
    union
    select cluster, owner_pipeline_run_uid from affected_task_run_rows where owner_pipeline_run_uid is not null
    union
    select cluster, label_pipeline_run_uid from affected_task_run_rows where label_pipeline_run_uid is not null
    union
    select pr.cluster, pr.pipeline_run_uid
    from affected_task_run_rows as tr
    inner join pipeline_runs as pr
        on pr.cluster = tr.cluster and pr.namespace = tr.namespace and pr.pipeline_run_name = tr.label_pipeline_run_name
    {%- if old_task_runs is not none %}
    union
    select old.cluster, old.pipeline_run_uid
    from {{ old_task_runs }} as old
    semi join affected_task_runs as a on a.cluster = old.cluster and a.task_run_uid = old.task_run_uid
    where old.pipeline_run_uid is not null
    {%- endif %}
    union
    select pr.cluster, pr.pipeline_run_uid
    from pipeline_runs as pr
    inner join changed_names as n
        on n.cluster = pr.cluster and n.namespace = pr.namespace and n.pipeline_run_name = pr.rerun_of_name
)

select cluster, task_run_uid as run_uid, 'TaskRun' as run_kind from affected_task_runs
union all
select cluster, pipeline_run_uid as run_uid, 'PipelineRun' as run_kind from affected_pipeline_runs
{%- endif %}
