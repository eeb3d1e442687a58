{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {
            'uid_column': 'consumer_run_uid',
            'affected': 'runs',
            'replace_always': 'artifact_digest in (select artifact_digest from '
                ~ 'intermediate.int_supply_chain__changed_digests)',
            'run_columns': ['artifact_digest', 'cluster', 'consumer_run_uid'],
        }},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }}, {{ ref('int_supply_chain__changed_digests') }} */

{#-
  One row per (artifact digest, consuming run): a PipelineRun or standalone TaskRun any of whose param values
  contains the digest's `alg:hex` text, or whose `*ARTIFACT_INPUTS` results (its own or, for a PipelineRun, its
  TaskRuns') name it (int_supply_chain__consumer_tokens). Tokens are equi-joined on their hex part; "contains"
  then only needs the token's algorithm to end with the digest's (`img-sha256:..` contains `sha256:..`). A run
  never consumes a digest it produced itself (a build's own scan step is not downstream).
  Incremental builds recompute the affected consumers' rows, and every run's rows of the digests whose producers
  changed (int_supply_chain__changed_digests): a row depends only on its consumer and on whether its digest is
  produced.
-#}
{%- set keyed = incremental_runs_mode() == 'keys' %}
{%- set changed_digests = ref('int_supply_chain__changed_digests') %}
with runs as (
    select * from {{ ref('int_supply_chain__runs') }}
),

consumer_tokens as (
    select * from {{ ref('int_supply_chain__consumer_tokens') }}
    {%- if keyed %}
    where {{ in_affected_keys('cluster', 'run_uid', 'runs') }}
        or token_hex in (select {{ digest_hex('artifact_digest') }} from {{ changed_digests }})
    {%- endif %}
),

digests as (
    select distinct
        artifact_digest,
        split_part(artifact_digest, ':', 1) as digest_algorithm,
        {{ digest_hex('artifact_digest') }} as digest_hex
    from {{ ref('fct_artifacts') }}
),

produced as (
    select distinct cluster, producer_run_uid, artifact_digest from {{ ref('fct_artifacts') }}
),

matches as (
    select
        digests.artifact_digest,
        consumer_tokens.cluster,
        consumer_tokens.run_uid as consumer_run_uid,
        consumer_tokens.run_kind as consumer_run_kind,
        consumer_tokens.via
    from consumer_tokens
    inner join digests
        on digests.digest_hex = consumer_tokens.token_hex
    where right(consumer_tokens.token_algorithm, length(digests.digest_algorithm)) = digests.digest_algorithm
    {%- if keyed %}
        {#- Exactly the rows the pre-hook deleted: an unaffected run's token may also match an unchanged digest. #}
        and ({{ in_affected_keys('consumer_tokens.cluster', 'consumer_tokens.run_uid', 'runs') }}
            or digests.artifact_digest in (select artifact_digest from {{ changed_digests }}))
    {%- endif %}
)

select
    matches.artifact_digest,
    matches.cluster,
    matches.consumer_run_uid,
    matches.consumer_run_kind,
    runs.namespace as consumer_namespace,
    runs.pipeline_name as consumer_pipeline_name,
    runs.status as consumer_status,
    runs.created_at as consumed_at,
    {{ sorted_distinct_list_agg('matches.via') }} as consumed_via
from matches
inner join runs
    on runs.cluster = matches.cluster
    and runs.run_uid = matches.consumer_run_uid
    and runs.run_kind = matches.consumer_run_kind
left join produced
    on produced.cluster = matches.cluster
    and produced.producer_run_uid = matches.consumer_run_uid
    and produced.artifact_digest = matches.artifact_digest
where produced.producer_run_uid is null
group by
    matches.artifact_digest,
    matches.cluster,
    matches.consumer_run_uid,
    matches.consumer_run_kind,
    runs.namespace,
    runs.pipeline_name,
    runs.status,
    runs.created_at
