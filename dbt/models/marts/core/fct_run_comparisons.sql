{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'comparisons'}},
    )
}}
/* depends_on: {{ ref('int_run_comparisons__affected') }} (the pre-hook and the filter read it) */

{#- One row per terminal PipelineRun, compared with the previous terminal run of the same pipeline. -#}
with pairs as (
    select * from {{ ref('int_pipeline_runs__previous') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'comparisons') }}
),

value_diffs as (
    select
        cluster,
        pipeline_run_uid,
        {{ sorted_list_agg("case when kind = 'param' then name end") }} as params_changed,
        {{ sorted_list_agg("case when kind = 'result' then name end") }} as results_changed
    from {{ ref('int_run_comparisons__value_diffs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'comparisons') }}
    group by cluster, pipeline_run_uid
),

{%- if incremental_runs_mode() == 'keys' %}
{#- Only the compared runs and their previous runs need their task sets. #}
compared_runs as (
    select cluster, pipeline_run_uid from pairs
    union
    select cluster, previous_run_uid from pairs where previous_run_uid is not null
),
{%- endif %}

task_sets as (
    select t.cluster, t.pipeline_run_uid, {{ sorted_list_agg('t.pipeline_task') }} as pipeline_tasks
    from {{ ref('int_pipeline_runs__pipeline_tasks') }} as t
    {%- if incremental_runs_mode() == 'keys' %}
    semi join compared_runs as c on c.cluster = t.cluster and c.pipeline_run_uid = t.pipeline_run_uid
    {%- endif %}
    group by t.cluster, t.pipeline_run_uid
)

select
    pairs.cluster,
    pairs.namespace,
    pairs.pipeline_name,
    pairs.pipeline_run_uid,
    pairs.previous_run_uid,
    pairs.status,
    pairs.previous_status,
    case
        when pairs.previous_run_uid is null then 'first_run'
        when pairs.status = 'cancelled' or pairs.previous_status = 'cancelled' then 'other'
        when pairs.previous_status = 'succeeded' and {{ is_failing_status('pairs.status') }} then 'regressed'
        when {{ is_failing_status('pairs.previous_status') }} and pairs.status = 'succeeded' then 'recovered'
        when {{ is_failing_status('pairs.previous_status') }} and {{ is_failing_status('pairs.status') }}
            then 'still_failing'
        else 'still_passing'
    end as transition,
    pairs.duration_s,
    pairs.previous_duration_s,
    pairs.duration_s - pairs.previous_duration_s as duration_delta_s,
    pairs.duration_s / nullif(pairs.previous_duration_s, 0) as duration_ratio,
    case
        when pairs.commit_sha is null or pairs.previous_commit_sha is null then null
        else pairs.commit_sha <> pairs.previous_commit_sha
    end as commit_changed,
    case
        when pairs.previous_run_uid is not null then coalesce(value_diffs.params_changed, []::varchar[])
    end as params_changed,
    case
        when pairs.previous_run_uid is not null then coalesce(value_diffs.results_changed, []::varchar[])
    end as results_changed,
    case
        when pairs.previous_run_uid is not null then {{ list_minus_sorted('current_tasks.pipeline_tasks', 'previous_tasks.pipeline_tasks') }}
    end as tasks_added,
    case
        when pairs.previous_run_uid is not null then {{ list_minus_sorted('previous_tasks.pipeline_tasks', 'current_tasks.pipeline_tasks') }}
    end as tasks_removed,
    pairs.order_at
from pairs
left join value_diffs
    on value_diffs.cluster = pairs.cluster and value_diffs.pipeline_run_uid = pairs.pipeline_run_uid
left join task_sets as current_tasks
    on current_tasks.cluster = pairs.cluster and current_tasks.pipeline_run_uid = pairs.pipeline_run_uid
left join task_sets as previous_tasks
    on previous_tasks.cluster = pairs.cluster and previous_tasks.pipeline_run_uid = pairs.previous_run_uid
