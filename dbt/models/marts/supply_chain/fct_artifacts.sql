{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'producer_run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  One row per (artifact digest, producing run). An artifact named in a TaskRun's results inside a PipelineRun is
  attributed to that PipelineRun; a standalone TaskRun produces its own. Only succeeded producers count, and
  is_signed is the producer's own `chains.tekton.dev/signed` (the provenance of a PipelineRun's artifact is the
  PipelineRun's attestation). A producer's rows read its own emitted artifacts, its TaskRuns' (a changed TaskRun
  makes its old and new parents affected) and its own run row, so an incremental build recomputes the affected
  producers.
-#}
with emitted as (
    select * from {{ ref('int_supply_chain__emitted_artifacts') }}
),

attributed as (
    select
        emitted.*,
        coalesce(parents.pipeline_run_uid, emitted.emitter_run_uid) as producer_run_uid,
        case when parents.pipeline_run_uid is null then emitted.emitter_run_kind else 'PipelineRun' end
            as producer_run_kind
    from emitted
    {# Equality conditions only: a one-sided condition in a LEFT JOIN turns it into a nested loop. uids are
       unique across kinds, so a PipelineRun emitter simply finds no parent. #}
    left join {{ ref('fct_task_runs') }} as parents
        on parents.cluster = emitted.cluster
        and parents.task_run_uid = emitted.emitter_run_uid
    where true {{ affected_filter('emitted.cluster', 'coalesce(parents.pipeline_run_uid, emitted.emitter_run_uid)', 'runs') }}
),

per_producer as (
    select
        cluster,
        producer_run_uid,
        producer_run_kind,
        artifact_digest,
        min(artifact_uri) as artifact_uri,
        {{ sorted_distinct_list_agg('artifact_uri') }} as artifact_uris,
        case when max(case when artifact_kind = 'image' then 1 else 0 end) = 1 then 'image' else 'artifact' end
            as artifact_kind
    from attributed
    group by cluster, producer_run_uid, producer_run_kind, artifact_digest
)

select
    per_producer.artifact_digest,
    per_producer.artifact_uri,
    per_producer.artifact_kind,
    per_producer.producer_run_uid,
    per_producer.cluster,
    producers.namespace,
    producers.pipeline_name,
    producers.repo_url,
    producers.commit_sha,
    producers.completed_at as produced_at,
    producers.is_signed,
    per_producer.producer_run_kind,
    per_producer.artifact_uris
from per_producer
inner join {{ ref('int_supply_chain__runs') }} as producers
    on producers.cluster = per_producer.cluster
    and producers.run_uid = per_producer.producer_run_uid
    and producers.run_kind = per_producer.producer_run_kind
where producers.status = 'succeeded'
