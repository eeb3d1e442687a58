{#-
  Tekton semantics and the few DuckDB-specific functions the models use. Keeping engine-specific SQL here is what
  lets the project move to another dbt adapter (architecture.md "Scaling past one machine"): port these macros,
  not the models.
-#}

{#- Succeeded condition (status + reason) and start time -> the run status of data-model.md. -#}
{% macro tekton_status(condition_status, reason, started_at) -%}
    case
        when {{ condition_status }} = 'True' then 'succeeded'
        when {{ condition_status }} = 'False' then
            case
                when {{ reason }} in ('PipelineRunTimeout', 'TaskRunTimeout') then 'timed_out'
                when {{ reason }} in (
                    'Cancelled', 'PipelineRunCancelled', 'TaskRunCancelled', 'CancelledRunFinally', 'StoppedRunFinally'
                ) then 'cancelled'
                else 'failed'
            end
        when {{ started_at }} is not null then 'running'
        else 'pending'
    end
{%- endmacro %}

{% macro is_terminal_status(status) -%}
    ({{ status }} in ('succeeded', 'failed', 'timed_out', 'cancelled'))
{%- endmacro %}

{% macro is_failing_status(status) -%}
    ({{ status }} in ('failed', 'timed_out'))
{%- endmacro %}

{#- Several JSON paths pulled with ONE call: parsing the document once is what makes staging fast. -#}
{% macro json_strings(column, paths) -%}
    json_extract_string({{ column }}, [{% for p in paths %}'{{ p }}'{{ "," if not loop.last }}{% endfor %}])
{%- endmacro %}

{% macro json_values(column, paths) -%}
    json_extract({{ column }}, [{% for p in paths %}'{{ p }}'{{ "," if not loop.last }}{% endfor %}])
{%- endmacro %}

{#- A JSON array as a list of JSON values (null when absent or not an array). -#}
{% macro json_array(value) -%}
    try_cast({{ value }} as json[])
{%- endmacro %}

{#- The value of the first Succeeded condition's field in a JSON array of conditions. -#}
{% macro succeeded_condition(conditions_json) -%}
    list_filter({{ json_array(conditions_json) }}, lambda c: c ->> 'type' = 'Succeeded')[1]
{%- endmacro %}

{% macro to_utc_timestamp(text) -%}
    try_cast(nullif({{ text }}, '') as timestamptz)
{%- endmacro %}

{#- Seconds from `start_ts` to `end_ts` as double; null when either is null. -#}
{% macro seconds_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }}))
{%- endmacro %}

{#- UTC calendar date of a timestamptz, whatever the session time zone. -#}
{% macro utc_date(ts) -%}
    cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro %}

{% macro percentile_cont(column, fraction) -%}
    quantile_cont({{ column }}, {{ fraction }})
{%- endmacro %}

{#-
  Canonical JSON text of a param/result value, so equal values compare equal: strings JSON-quoted, arrays as
  minified JSON, objects with keys sorted (Tekton object values are flat string maps).
-#}
{% macro canonical_json(value) -%}
    case json_type({{ value }})
        when 'OBJECT' then '{' || array_to_string(
            list_transform(
                list_sort(map_entries(cast({{ value }} as map(varchar, json)))),
                lambda e: to_json(e.key)::varchar || ':' || json(e.value)::varchar
            ),
            ','
        ) || '}'
        else json({{ value }})::varchar
    end
{%- endmacro %}

{#- The plain text of a string value, or the canonical JSON text otherwise. -#}
{% macro json_value_text(value, canonical) -%}
    case when json_type({{ value }}) = 'VARCHAR' then json_extract_string({{ value }}, '$') else {{ canonical }} end
{%- endmacro %}

{#-
  Repository URL normalisation: `git@host:org/repo` -> `https://host/org/repo`, lower-case scheme and host,
  no trailing `/` or `.git`. Empty text is null.
-#}
{% macro normalize_repo_url(url) -%}
    nullif(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    {{ _lower_scheme_host(_scp_to_https("trim(" ~ url ~ ")")) }},
                    '/+$', ''
                ),
                '\.git$', ''
            ),
            '/+$', ''
        ),
        ''
    )
{%- endmacro %}

{% macro _scp_to_https(url) -%}
    case
        when regexp_full_match({{ url }}, '[A-Za-z0-9._-]+@[^:/]+:.+')
            then regexp_replace({{ url }}, '^[A-Za-z0-9._-]+@([^:/]+):/*(.+)$', 'https://\1/\2')
        else {{ url }}
    end
{%- endmacro %}

{% macro _lower_scheme_host(url) -%}
    case
        when regexp_full_match({{ url }}, '[A-Za-z][A-Za-z0-9+.-]*://[^/]+.*')
            then lower(regexp_extract({{ url }}, '^([A-Za-z][A-Za-z0-9+.-]*://[^/]+)', 1))
                || regexp_extract({{ url }}, '^[A-Za-z][A-Za-z0-9+.-]*://[^/]+(.*)$', 1)
        else {{ url }}
    end
{%- endmacro %}

{#- data-model.md "Code source": the params that may name a run's repository and its commit, in precedence
    order. One list for PipelineRuns and standalone TaskRuns alike. -#}
{% macro repo_url_param_names() -%}
    {{ return(['REPO_URL', 'repo-url', 'repo_url', 'git-url', 'url']) }}
{%- endmacro %}

{% macro commit_param_names() -%}
    {{ return(['REPO_COMMIT', 'revision', 'git-revision', 'commit', 'commit-sha']) }}
{%- endmacro %}

{#- `max(...) as <prefix>_<n>` for each param of `names`, n following the precedence order. -#}
{% macro pivot_params(names, prefix, condition='true') -%}
    {%- for name in names %}
        max(case when name = '{{ name }}' and {{ condition }} then value end) as {{ prefix }}_{{ loop.index }}
        {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- `alias.<prefix>_1, alias.<prefix>_2, ...`: the pivoted params in precedence order, for a coalesce. -#}
{% macro pivoted_params(names, alias, prefix) -%}
    {%- for name in names %}{{ alias }}.{{ prefix }}_{{ loop.index }}{{ ", " if not loop.last }}{% endfor %}
{%- endmacro %}

{#- `'a', 'b', ...` for an IN list. -#}
{% macro quoted_list(names) -%}
    '{{ names | join("', '") }}'
{%- endmacro %}

{#- A commit given as a param counts only when it looks like one: 7 to 40 hex digits. -#}
{% macro is_hex_commit(value) -%}
    regexp_full_match({{ value }}, '[0-9A-Fa-f]{7,40}')
{%- endmacro %}

{#- Sorted varchar[] aggregate (empty list when nothing matched). -#}
{% macro sorted_list_agg(column) -%}
    coalesce(list_sort(list({{ column }}) filter (where {{ column }} is not null)), []::varchar[])
{%- endmacro %}

{#- Elements of list `a` missing from list `b`, sorted. -#}
{% macro list_minus_sorted(a, b) -%}
    list_sort(list_filter(coalesce({{ a }}, []::varchar[]), lambda x: not list_contains(coalesce({{ b }}, []::varchar[]), x)))
{%- endmacro %}

{#-
  Incremental staging reads only raw rows ingested since the newest one it already holds (`>=`: re-reading the
  boundary is harmless with delete+insert, missing a row is not).
-#}
{#-
  The raw rows a staging model reads: those at or after the newest `ingested_at` it holds. All of them when the last
  build did not finish ('all' mode, macros/incremental_runs.sql): the pre-hook emptied the table, so the rows a
  failed build wrote are recomputed like every other model's.
  The bound is looked up first and inlined as a constant: DuckDB skips row groups on a constant filter (zone maps),
  but evaluates a scalar subquery as a join after reading every object's JSON (9 s instead of 0.1 s at 1M objects).
-#}
{% macro new_raw_rows_filter(ingested_at='ingested_at') -%}
    {%- if execute and incremental_runs_mode() == 'keys' %}
    {%- set newest = run_query("select coalesce(max(ingested_at), '-infinity'::timestamptz)::varchar from " ~ this).columns[0].values()[0] %}
    and {{ ingested_at }} >= '{{ newest }}'::timestamptz
    {%- endif %}
{%- endmacro %}

{#-
  Run counts, success rate and continuous percentiles over terminal runs (agg_pipeline_daily and
  agg_reliability_daily share them). success_rate ignores cancelled runs and is null when nothing else ran.
-#}
{% macro reliability_measures() -%}
    count(*) as runs,
    count(*) filter (where status = 'succeeded') as succeeded,
    count(*) filter (where status = 'failed') as failed,
    count(*) filter (where status = 'timed_out') as timed_out,
    count(*) filter (where status = 'cancelled') as cancelled,
    cast(count(*) filter (where status = 'succeeded') as double)
        / nullif(count(*) filter (where status in ('succeeded', 'failed', 'timed_out')), 0) as success_rate,
    {{ percentile_cont('duration_s', 0.5) }} as duration_p50_s,
    {{ percentile_cont('duration_s', 0.95) }} as duration_p95_s,
    {{ percentile_cont('queue_s', 0.5) }} as queue_p50_s,
    {{ percentile_cont('queue_s', 0.95) }} as queue_p95_s
{%- endmacro %}
