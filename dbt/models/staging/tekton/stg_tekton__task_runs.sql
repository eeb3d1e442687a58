{{
    config(
        materialized='incremental',
        unique_key=['cluster', 'task_run_uid'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['incremental_runs'],
    )
}}

{#-
  One row per TaskRun, v1 and v1beta1 normalised. The parent PipelineRun is kept as found (owner uid, label uid,
  label name); int_task_runs__linked resolves it.
-#}
with objects as (
    select
        cluster,
        uid,
        namespace,
        name,
        api_version,
        creation_timestamp,
        ingested_at,
        {{ json_strings('object', [
            '$.status.startTime',
            '$.status.completionTime',
            '$.metadata.labels."tekton.dev/pipelineRun"',
            '$.metadata.labels."tekton.dev/pipelineRunUID"',
            '$.metadata.labels."tekton.dev/pipelineTask"',
            '$.metadata.labels."tekton.dev/task"',
            '$.spec.taskRef.name',
            '$.metadata.labels."tekton.dev/pipeline"',
            '$.metadata.annotations."chains.tekton.dev/signed"',
            '$.metadata.labels."chains.tekton.dev/signed"',
            '$.spec.serviceAccountName',
            '$.status.podName',
            '$.status.conditions',
            '$.metadata.ownerReferences',
            '$.status.retriesStatus',
        ]) }} as s
    from {{ source('raw', 'tekton_objects') }}
    where kind = 'TaskRun'
    {{ new_raw_rows_filter() }}
),

fields as (
    select
        cluster,
        uid as task_run_uid,
        namespace,
        name as task_run_name,
        api_version,
        creation_timestamp as created_at,
        {{ to_utc_timestamp('s[1]') }} as started_at,
        {{ to_utc_timestamp('s[2]') }} as completed_at,
        {{ succeeded_condition('cast(s[13] as json)') }} as succeeded_condition,
        nullif(s[3], '') as label_pipeline_run_name,
        nullif(s[4], '') as label_pipeline_run_uid,
        nullif(
            list_filter({{ json_array('cast(s[14] as json)') }}, lambda o: o ->> 'kind' = 'PipelineRun')[1] ->> 'uid', ''
        ) as owner_pipeline_run_uid,
        nullif(s[5], '') as pipeline_task,
        coalesce(nullif(s[6], ''), nullif(s[7], ''), '(inline)') as task_name,
        nullif(s[8], '') as label_pipeline,
        coalesce(s[9], s[10], '') = 'true' as is_signed,
        nullif(s[11], '') as service_account,
        nullif(s[12], '') as pod_name,
        {{ json_array('cast(s[15] as json)') }} as retries,
        ingested_at
    from objects
),

resolved as (
    select
        * exclude (succeeded_condition, retries),
        succeeded_condition ->> 'status' as condition_status,
        succeeded_condition ->> 'reason' as reason,
        succeeded_condition ->> 'message' as message,
        1 + coalesce(len(retries), 0) as attempts,
        coalesce(
            len(list_filter(retries, lambda r: ({{ succeeded_condition("r -> '$.conditions'") }}) ->> 'status' = 'False')),
            0
        ) as failed_attempts
    from fields
)

select
    cluster,
    task_run_uid,
    namespace,
    task_run_name,
    api_version,
    {{ tekton_status('condition_status', 'reason', 'started_at') }} as status,
    {{ is_terminal_status(tekton_status('condition_status', 'reason', 'started_at')) }} as is_terminal,
    condition_status,
    reason,
    message,
    created_at,
    started_at,
    completed_at,
    coalesce(started_at, created_at) as order_at,
    label_pipeline_run_name,
    label_pipeline_run_uid,
    owner_pipeline_run_uid,
    pipeline_task,
    task_name,
    label_pipeline,
    cast(attempts as bigint) as attempts,
    cast(failed_attempts as bigint) as failed_attempts,
    is_signed,
    service_account,
    pod_name,
    ingested_at
from resolved
