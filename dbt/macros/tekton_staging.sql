{#-
  Shared body of stg_tekton__run_params / stg_tekton__run_results: unnest a `[{name, value}]` array of each run
  once and give every value as canonical JSON text (so equal values compare equal) and as plain text.
  `pipeline_run_array` / `task_run_array` are JSON paths (quoted) or, with expressions=true, SQL expressions over
  `object`.
-#}
{% macro run_name_values(pipeline_run_array, task_run_array, expressions=false) -%}
with runs as (
    select
        cluster,
        uid as run_uid,
        kind as run_kind,
        ingested_at,
        {% if expressions -%}
        case kind when 'PipelineRun' then {{ pipeline_run_array }} else {{ task_run_array }} end
        {%- else -%}
        json_extract(object, case kind when 'PipelineRun' then {{ pipeline_run_array }} else {{ task_run_array }} end)
        {%- endif %} as entries
    from {{ source('raw', 'tekton_objects') }}
    where kind in ('PipelineRun', 'TaskRun')
    {{ new_raw_rows_filter() }}
),

entries as (
    select cluster, run_uid, run_kind, ingested_at, unnest({{ json_array('entries') }}) as entry
    from runs
),

named as (
    select
        cluster,
        run_uid,
        run_kind,
        entry ->> 'name' as name,
        entry -> 'value' as value,
        ingested_at
    from entries
    where entry ->> 'name' is not null
),

canonical as (
    select cluster, run_uid, run_kind, name, value, {{ canonical_json('value') }} as value_json, ingested_at
    from named
)

select
    cluster,
    run_uid,
    run_kind,
    name,
    value_json,
    {{ json_value_text('value', 'value_json') }} as value_text,
    ingested_at
from canonical
{%- endmacro %}
