{#-
  Shared body of stg_tekton__run_params / stg_tekton__run_results: unnest a `[{name, value}]` array of each run
  once and give every value as canonical JSON text (so equal values compare equal) and as plain text.
  `paths` are pulled with one json_extract_string call (one parse per object) into list `s`; `pick` is the SQL
  expression over `s` and `run_kind` that chooses the array (v1 vs v1beta1 field names).
-#}
{% macro run_name_values(paths, pick) -%}
with extracted as (
    select
        cluster,
        uid as run_uid,
        kind as run_kind,
        ingested_at,
        {{ json_strings('object', paths) }} as s
    from {{ source('raw', 'tekton_objects') }}
    where kind in ('PipelineRun', 'TaskRun')
    {{ new_raw_rows_filter() }}
),

runs as (
    select cluster, run_uid, run_kind, ingested_at, cast({{ pick }} as json) as entries
    from extracted
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
