{{
    config(
        materialized='incremental',
        unique_key=['cluster', 'pipeline_run_uid'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['incremental_runs'],
    )
}}

{#- One row per PipelineRun, v1 and v1beta1 normalised. The JSON is parsed once here (two multi-path calls). -#}
with objects as (
    {#- One json_extract_string call per object: the document is parsed once; array fragments are re-read as JSON. #}
    select
        cluster,
        uid,
        namespace,
        name,
        api_version,
        creation_timestamp,
        ingested_at,
        {{ json_strings('object', [
            '$.metadata.generateName',
            '$.status.startTime',
            '$.status.completionTime',
            '$.metadata.labels."tekton.dev/pipeline"',
            '$.spec.pipelineRef.name',
            '$.metadata.labels."pipelinesascode.tekton.dev/original-prname"',
            '$.metadata.labels."pipelinesascode.tekton.dev/sha"',
            '$.metadata.annotations."pipelinesascode.tekton.dev/sha"',
            '$.metadata.annotations."pipelinesascode.tekton.dev/repo-url"',
            '$.metadata.labels."pipelinesascode.tekton.dev/repo-url"',
            '$.metadata.labels."triggers.tekton.dev/triggers-eventid"',
            '$.metadata.labels."triggers.tekton.dev/eventlistener"',
            '$.metadata.labels."triggers.tekton.dev/trigger"',
            '$.metadata.labels."dashboard.tekton.dev/rerunOf"',
            '$.metadata.annotations."chains.tekton.dev/signed"',
            '$.metadata.labels."chains.tekton.dev/signed"',
            '$.spec.taskRunTemplate.serviceAccountName',
            '$.spec.serviceAccountName',
            '$.status.conditions',
            '$.spec.pipelineRef.params',
        ]) }} as s
    from {{ source('raw', 'tekton_objects') }}
    where kind = 'PipelineRun'
    {{ new_raw_rows_filter() }}
),

fields as (
    select
        cluster,
        uid as pipeline_run_uid,
        namespace,
        name as pipeline_run_name,
        api_version,
        creation_timestamp as created_at,
        {{ to_utc_timestamp('s[2]') }} as started_at,
        {{ to_utc_timestamp('s[3]') }} as completed_at,
        nullif(s[1], '') as generate_name,
        {{ succeeded_condition('cast(s[19] as json)') }} as succeeded_condition,
        nullif(s[4], '') as label_pipeline,
        nullif(s[5], '') as pipeline_ref_name,
        {{ json_array('cast(s[20] as json)') }} as resolver_params,
        nullif(s[6], '') as pac_original_prname,
        nullif(coalesce(nullif(s[7], ''), s[8]), '') as pac_sha,
        nullif(coalesce(nullif(s[9], ''), s[10]), '') as pac_repo_url,
        nullif(s[11], '') as trigger_event_id,
        nullif(s[12], '') as event_listener,
        nullif(s[13], '') as trigger_name,
        nullif(s[14], '') as rerun_of_name,
        coalesce(s[15], s[16], '') = 'true' as is_signed,
        nullif(coalesce(nullif(s[17], ''), s[18]), '') as service_account,
        ingested_at
    from objects
),

resolved as (
    select
        *,
        succeeded_condition ->> 'status' as condition_status,
        succeeded_condition ->> 'reason' as reason,
        succeeded_condition ->> 'message' as message,
        nullif(
            list_filter(resolver_params, lambda p: p ->> 'name' = 'name')[1] ->> 'value', ''
        ) as resolver_name_param,
        nullif(
            regexp_replace(
                regexp_extract(
                    list_filter(resolver_params, lambda p: p ->> 'name' = 'pathInRepo')[1] ->> 'value',
                    '([^/]*)$',
                    1
                ),
                '\.[^.]*$',
                ''
            ),
            ''
        ) as resolver_path_name
    from fields
)

select
    cluster,
    pipeline_run_uid,
    namespace,
    pipeline_run_name,
    api_version,
    {#- pipeline_name: the six-step precedence of data-model.md. -#}
    coalesce(
        case when label_pipeline <> pipeline_run_name then label_pipeline end,
        pipeline_ref_name,
        resolver_name_param,
        resolver_path_name,
        pac_original_prname,
        nullif(regexp_replace(generate_name, '-$', ''), ''),
        '(inline)'
    ) as pipeline_name,
    {{ tekton_status('condition_status', 'reason', 'started_at') }} as status,
    {{ is_terminal_status(tekton_status('condition_status', 'reason', 'started_at')) }} as is_terminal,
    condition_status,
    reason,
    message,
    created_at,
    started_at,
    completed_at,
    coalesce(started_at, created_at) as order_at,
    generate_name,
    label_pipeline,
    pipeline_ref_name,
    resolver_name_param,
    resolver_path_name,
    pac_original_prname,
    pac_sha,
    pac_repo_url,
    trigger_event_id,
    event_listener,
    trigger_name,
    rerun_of_name,
    is_signed,
    service_account,
    ingested_at
from resolved
