{#- Tagged: the comparison models read it, so it belongs to the incremental scheme's watermark. -#}
{{ config(tags=['incremental_runs']) }}

{#-
  Each terminal PipelineRun paired with the terminal run of the same (cluster, namespace, pipeline_name) just
  before it by order key (coalesce(started_at, created_at), then uid).
-#}
with terminal_runs as (
    select
        cluster,
        namespace,
        pipeline_name,
        pipeline_run_uid,
        status,
        duration_s,
        commit_sha,
        order_at
    from {{ ref('fct_pipeline_runs') }}
    where is_terminal
)

select
    cluster,
    namespace,
    pipeline_name,
    pipeline_run_uid,
    status,
    duration_s,
    commit_sha,
    order_at,
    lag(pipeline_run_uid) over by_order as previous_run_uid,
    lag(status) over by_order as previous_status,
    lag(duration_s) over by_order as previous_duration_s,
    lag(commit_sha) over by_order as previous_commit_sha
from terminal_runs
window by_order as (partition by cluster, namespace, pipeline_name order by order_at, pipeline_run_uid)
