{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filters read it) */

{#-
  The digest-like tokens each consuming run names (int_supply_chain__consumptions matches them against the
  produced digests): a PipelineRun or standalone TaskRun's param values, and the `*ARTIFACT_INPUTS` results of the
  run itself or, for a PipelineRun, of its TaskRuns. A child TaskRun's params do not count (its PipelineRun passes
  what it needs). Kept as a table so that an incremental build matches a new digest against every run's tokens
  without extracting them from every param again. Keyed on the consuming run: a changed TaskRun makes its old
  and new parents affected (int_build__affected_runs).
-#}
{%- set keyed = incremental_runs_mode() == 'keys' %}
with runs as (
    select cluster, run_uid, run_kind from {{ ref('int_supply_chain__runs') }}
    where true {{ affected_filter('cluster', 'run_uid', 'runs') }}
),

task_parents as (
    select cluster, task_run_uid, pipeline_run_uid
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is not null
),

param_tokens as (
    select cluster, run_uid, run_kind, 'param' as via, unnest({{ digest_tokens('value_text') }}) as token
    from {{ ref('stg_tekton__run_params') }}
    where value_text like '%:%' {{ affected_filter('cluster', 'run_uid', 'runs') }}
),

input_tokens as (
    select cluster, run_uid, run_kind, 'artifact_inputs' as via, unnest({{ digest_tokens('value_text') }}) as token
    from {{ ref('stg_tekton__run_results') }}
    where right(name, 15) = 'ARTIFACT_INPUTS'
    {%- if keyed %}
        {#- The affected runs' own results and those of their TaskRuns. #}
        and ({{ in_affected_keys('cluster', 'run_uid', 'runs') }} or (cluster, run_uid) in (
            select (cluster, task_run_uid) from task_parents
            where {{ in_affected_keys('cluster', 'pipeline_run_uid', 'runs') }}
        ))
    {%- endif %}
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
)

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
