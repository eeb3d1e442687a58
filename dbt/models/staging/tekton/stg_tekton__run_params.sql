{{
    config(
        materialized='incremental',
        unique_key=['cluster', 'run_uid'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['incremental_runs'],
    )
}}

{#- One row per (run, param) of PipelineRuns and TaskRuns (`spec.params`), values as canonical JSON text. -#}
{{ run_name_values(['$.spec.params'], 's[1]') }}
