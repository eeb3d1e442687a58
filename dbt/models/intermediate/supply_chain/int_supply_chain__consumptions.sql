{#-
  One row per (artifact digest, consuming run): a PipelineRun or standalone TaskRun any of whose param values
  contains the digest's `alg:hex` text, or whose `*ARTIFACT_INPUTS` results (its own or, for a PipelineRun, its
  TaskRuns') name it. Digest-like tokens are pulled out of the values first and equi-joined on their hex part;
  "contains" then only needs the token's algorithm to end with the digest's (`img-sha256:..` contains
  `sha256:..`). A run never consumes a digest it produced itself (a build's own scan step is not downstream).
-#}
with runs as (
    select * from {{ ref('int_supply_chain__runs') }}
),

task_parents as (
    select cluster, task_run_uid, pipeline_run_uid
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is not null
),

param_tokens as (
    select cluster, run_uid, run_kind, 'param' as via, unnest({{ digest_tokens('value_text') }}) as token
    from {{ ref('stg_tekton__run_params') }}
    where value_text like '%:%'
),

input_tokens as (
    select cluster, run_uid, run_kind, 'artifact_inputs' as via, unnest({{ digest_tokens('value_text') }}) as token
    from {{ ref('stg_tekton__run_results') }}
    where right(name, 15) = 'ARTIFACT_INPUTS'
),

{#- Params count on the run that holds them; ARTIFACT_INPUTS of a child TaskRun count for its PipelineRun. -#}
tokens as (
    select cluster, run_uid, run_kind, via, token from param_tokens
    union all
    select
        input_tokens.cluster,
        coalesce(task_parents.pipeline_run_uid, input_tokens.run_uid) as run_uid,
        case when task_parents.pipeline_run_uid is null then input_tokens.run_kind else 'PipelineRun' end,
        input_tokens.via,
        input_tokens.token
    from input_tokens
    left join task_parents
        on task_parents.cluster = input_tokens.cluster
        and task_parents.task_run_uid = input_tokens.run_uid
),

consumer_tokens as (
    select distinct
        tokens.cluster,
        tokens.run_uid,
        tokens.run_kind,
        tokens.via,
        split_part(tokens.token, ':', 1) as token_algorithm,
        split_part(tokens.token, ':', 2) as token_hex
    from tokens
    inner join runs
        on runs.cluster = tokens.cluster
        and runs.run_uid = tokens.run_uid
        and runs.run_kind = tokens.run_kind
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
