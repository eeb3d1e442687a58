{#- Several parents: Dagster attaches this check to fct_lineage_edges (dagster-dbt reads meta dagster.ref). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_lineage_edges'}}}) }}
{#-
  Every produces / consumed_by edge names an artifact of fct_artifacts, every artifact has its produces edge, and
  artifacts come only from succeeded producers.
-#}
with artifacts as (
    select * from {{ ref('fct_artifacts') }}
),

edges as (
    select * from {{ ref('fct_lineage_edges') }}
),

producer_status as (
    select cluster, pipeline_run_uid as run_uid, status from {{ ref('fct_pipeline_runs') }}
    union all
    select cluster, task_run_uid, status from {{ ref('fct_task_runs') }} where pipeline_run_uid is null
)

select edges.target_id as artifact_digest, 'produces edge without artifact' as problem
from edges
left join artifacts
    on artifacts.cluster = edges.cluster
    and artifacts.artifact_digest = edges.target_id
    and artifacts.producer_run_uid = edges.source_id
where edges.relation = 'produces' and artifacts.artifact_digest is null
union all
select edges.source_id, 'consumed_by edge without artifact'
from edges
where edges.relation = 'consumed_by'
    and edges.source_id not in (select artifact_digest from artifacts)
union all
select artifacts.artifact_digest, 'artifact without produces edge'
from artifacts
left join edges
    on edges.relation = 'produces'
    and edges.cluster = artifacts.cluster
    and edges.source_id = artifacts.producer_run_uid
    and edges.target_id = artifacts.artifact_digest
where edges.target_id is null
union all
select artifacts.artifact_digest, 'producer did not succeed'
from artifacts
left join producer_status
    on producer_status.cluster = artifacts.cluster and producer_status.run_uid = artifacts.producer_run_uid
where producer_status.status is distinct from 'succeeded'
