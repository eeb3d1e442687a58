{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {
            'uid_column': "case when relation = 'produces' then source_id else target_id end",
            'affected': 'runs',
            'replace_always': "relation = 'consumed_by' and source_id in (select artifact_digest from "
                ~ "intermediate.int_supply_chain__changed_digests)",
            'run_columns': ['cluster', 'source_id', 'target_id', 'relation'],
        }},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }}, {{ ref('int_supply_chain__changed_digests') }} (the pre-hook and
   the filters read them) */

{#-
  The lineage graph as edges (data-model.md "Supply chain"): commit and trigger event -> PipelineRun (triggers),
  PipelineRun -> TaskRun (contains), producer -> artifact (produces), artifact -> consuming run (consumed_by),
  original -> rerun (rerun_as). Run ids are uids, an artifact's id its digest, a commit's `<repo_url>@<commit_sha>`.
  `observed_at` is when the edge came to be: the target run's creation, or the artifact's production.
  Incremental builds: an edge belongs to one run, the producer of a produces edge and the target of the others,
  and reads only that run's mart rows, so the affected runs' edges are recomputed. A consumed_by edge is a row of
  int_supply_chain__consumptions, which also depends on whether its digest is produced at all (a new artifact makes
  old params consume it): those edges are recomputed as that model recomputes its rows, for the affected consumers
  and for every consumer of a digest in int_supply_chain__changed_digests.
-#}
with pipeline_runs as (
    select * from {{ ref('fct_pipeline_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

commit_triggers as (
    select
        cluster,
        'commit' as source_kind,
        repo_url || '@' || commit_sha as source_id,
        'pipeline_run' as target_kind,
        pipeline_run_uid as target_id,
        'triggers' as relation,
        created_at as observed_at
    from pipeline_runs
    where repo_url is not null and commit_sha is not null
),

event_triggers as (
    select cluster, 'event', trigger_event_id, 'pipeline_run', pipeline_run_uid, 'triggers', created_at
    from pipeline_runs
    where trigger_event_id is not null
),

contains as (
    select cluster, 'pipeline_run', pipeline_run_uid, 'task_run', task_run_uid, 'contains', created_at
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is not null {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
),

produces as (
    select
        cluster,
        case producer_run_kind when 'PipelineRun' then 'pipeline_run' else 'task_run' end,
        producer_run_uid,
        'artifact',
        artifact_digest,
        'produces',
        produced_at
    from {{ ref('fct_artifacts') }}
    where true {{ affected_filter('cluster', 'producer_run_uid', 'runs') }}
),

consumed_by as (
    select
        cluster,
        'artifact',
        artifact_digest,
        case consumer_run_kind when 'PipelineRun' then 'pipeline_run' else 'task_run' end,
        consumer_run_uid,
        'consumed_by',
        consumed_at
    from {{ ref('int_supply_chain__consumptions') }}
    {%- if incremental_runs_mode() == 'keys' %}
    where {{ keyed_rows_of('intermediate', 'int_supply_chain__consumptions') }}
    {%- endif %}
),

reruns as (
    select cluster, 'pipeline_run', rerun_of_uid, 'pipeline_run', pipeline_run_uid, 'rerun_as', created_at
    from pipeline_runs
    where rerun_of_uid is not null
)

select * from commit_triggers
union all
select * from event_triggers
union all
select * from contains
union all
select * from produces
union all
select * from consumed_by
union all
select * from reruns
