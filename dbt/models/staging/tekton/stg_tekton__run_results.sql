{{
    config(
        materialized='incremental',
        unique_key=['cluster', 'run_uid'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['incremental_runs'],
    )
}}

{#-
  One row per (run, result): v1 `status.results`, v1beta1 `status.pipelineResults` (PipelineRun) or
  `status.taskResults` (TaskRun). Values as canonical JSON text.
-#}
{{ run_name_values(
    ['$.status.results', '$.status.pipelineResults', '$.status.taskResults'],
    "coalesce(s[1], case run_kind when 'PipelineRun' then s[2] else s[3] end)"
) }}
