{#-
  Incremental strategy `changed_rows` (config `materialized='incremental', incremental_strategy='changed_rows'`),
  for large models computed whole in every build whose result changes little from one build to the next (the
  previous-run pairing, the supply chains). The model's SQL stays a full computation (no is_incremental branch).
  dbt's incremental materialisation puts its result in a temporary table; this strategy then makes the stored table
  equal to it by deleting the stored rows that are no longer in the result and inserting the result's rows that are
  not stored yet (a changed row is one of each). A table materialisation wrote every row again, into the file's
  write-ahead log when fewer than a row group, and DuckDB then checkpointed the file in the middle of the build
  (docs/dbt.md "Incremental builds").

  Rows compare on every column, nulls equal (`is not distinct from`): no key is needed, but the model's rows must
  be distinct (duplicates would be stored once): a model using it has one row per key (a PipelineRun, a commit).
  The table keeps its identity (no swap), so its contract and comments are untouched; a full refresh still
  rebuilds it through a swap.
-#}
{% macro get_incremental_changed_rows_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set result = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | list -%}
    {%- set conditions = [] -%}
    {%- for column in columns -%}
        {%- do conditions.append('stored.' ~ column ~ ' is not distinct from computed.' ~ column) -%}
    {%- endfor -%}
    {%- set same_row = conditions | join('\n        and ') -%}
    delete from {{ target }}
    where rowid in (
        select stored.rowid
        from {{ target }} as stored
        anti join {{ result }} as computed
            on {{ same_row }}
    );

    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }}
    from {{ result }} as computed
    anti join {{ target }} as stored
        on {{ same_row }}
{%- endmacro %}
