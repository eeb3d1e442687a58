{{
    config(
        materialized='incremental',
        unique_key=['cluster', 'task_run_uid'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['incremental_runs'],
    )
}}

{#- One row per step of a TaskRun, in the order the TaskRun lists them (step_index from 0). -#}
with task_runs as (
    select
        cluster,
        uid as task_run_uid,
        ingested_at,
        {{ json_array("json_extract(object, '$.status.steps')") }} as steps
    from {{ source('raw', 'tekton_objects') }}
    where kind = 'TaskRun'
    {{ new_raw_rows_filter() }}
),

steps as (
    select
        cluster,
        task_run_uid,
        ingested_at,
        unnest(steps) as step,
        unnest(range(len(steps))) as step_index
    from task_runs
    where len(steps) > 0
),

fields as (
    select
        cluster,
        task_run_uid,
        step_index,
        ingested_at,
        {{ json_strings('step', [
            '$.name',
            '$.terminated.reason',
            '$.terminated.exitCode',
            '$.waiting.reason',
            '$.terminated.startedAt',
            '$.running.startedAt',
            '$.terminated.finishedAt',
        ]) }} as s
    from steps
)

select
    cluster,
    task_run_uid,
    cast(step_index as bigint) as step_index,
    s[1] as step_name,
    nullif(s[2], '') as terminated_reason,
    try_cast(s[3] as bigint) as exit_code,
    nullif(s[4], '') as waiting_reason,
    coalesce({{ to_utc_timestamp('s[5]') }}, {{ to_utc_timestamp('s[6]') }}) as started_at,
    {{ to_utc_timestamp('s[7]') }} as finished_at,
    ingested_at
from fields
