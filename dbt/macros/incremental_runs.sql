{#-
  Incremental intermediate models and marts (docs/dbt.md "Incremental builds").

  `intermediate.build_watermark` holds the newest raw `ingested_at` that every model tagged `incremental_runs` has
  absorbed. A build finds the raw objects ingested after it, widens them to every run whose rows depend on them
  (int_build__affected_runs, int_run_comparisons__affected), deletes those runs' rows from each tagged model
  (pre-hook) and appends them recomputed from the full upstream tables: the result equals a full refresh.

  The watermark moves only when every tagged model of the project built successfully in this invocation; any other
  outcome (a failure, a partial --select) clears it, and the next build recomputes everything (in place), so a
  half-applied batch can never be mistaken for a finished one.
-#}

{% macro build_watermark_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier='build_watermark')) }}
{%- endmacro %}

{#- The watermark as text ('' when none), read when the model runs. -#}
{% macro build_watermark() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema='intermediate', identifier='build_watermark') -%}
    {%- if relation is none -%}{{ return('') }}{%- endif -%}
    {%- set rows = run_query('select max(ingested_through)::varchar from ' ~ relation).columns[0].values() -%}
    {{ return(rows[0] if rows and rows[0] is not none else '') }}
{%- endmacro %}

{#- 'keys': recompute only affected runs; 'all': recompute everything in place; 'full': table is (re)created. -#}
{% macro incremental_runs_mode() -%}
    {#- Unit tests (no `this`) check the SQL of a full build. -#}
    {%- if this is none or model.resource_type == 'unit_test' or not is_incremental() -%}{{ return('full') }}{%- endif -%}
    {{ return('keys' if build_watermark() != '' else 'all') }}
{%- endmacro %}

{#-
  `and <semi-join on the affected runs>` for the driving rows of a tagged model; nothing outside 'keys' mode.
  The column arguments may be unqualified: the affected columns are renamed inside.
-#}
{% macro affected_runs_filter(cluster_column, uid_column, run_kind) -%}
    {%- if incremental_runs_mode() == 'keys' %}
    and exists (
        {#- Renamed, so that unqualified column arguments can only mean the outer row's columns. #}
        select 1
        from (
            select cluster as affected_cluster, run_uid as affected_uid
            from {{ ref('int_build__affected_runs') }}
            where run_kind = '{{ run_kind }}'
        )
        where affected_cluster = {{ cluster_column }} and affected_uid = {{ uid_column }}
    )
    {%- endif %}
{%- endmacro %}

{#- Same for the comparison models, keyed by the compared (current) PipelineRun. -#}
{% macro affected_comparisons_filter(cluster_column, uid_column) -%}
    {%- if incremental_runs_mode() == 'keys' %}
    and exists (
        select 1
        from (
            select cluster as affected_cluster, pipeline_run_uid as affected_uid
            from {{ ref('int_run_comparisons__affected') }}
        )
        where affected_cluster = {{ cluster_column }} and affected_uid = {{ uid_column }}
    )
    {%- endif %}
{%- endmacro %}

{#- Pre-hook: remove the rows about to be recomputed (all of them in 'all' mode). -#}
{% macro delete_affected_runs(uid_column, run_kind) -%}
    {%- set mode = incremental_runs_mode() -%}
    {%- if mode == 'keys' -%}
        delete from {{ this }} as t where exists (
            select 1 from {{ ref('int_build__affected_runs') }} as affected
            where affected.cluster = t.cluster and affected.run_uid = t.{{ uid_column }}
                and affected.run_kind = '{{ run_kind }}'
        )
    {%- elif mode == 'all' -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro delete_affected_comparisons() -%}
    {%- set mode = incremental_runs_mode() -%}
    {%- if mode == 'keys' -%}
        delete from {{ this }} as t where exists (
            select 1 from {{ ref('int_run_comparisons__affected') }} as affected
            where affected.cluster = t.cluster and affected.pipeline_run_uid = t.pipeline_run_uid
        )
    {%- elif mode == 'all' -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#-
  The relation of a model as it stood before this build touched it (its old rows say which runs it used to link
  or pair); none when it does not exist yet.
-#}
{% macro existing_relation(schema, identifier) -%}
    {{ return(adapter.get_relation(database=target.database, schema=schema, identifier=identifier)) }}
{%- endmacro %}

{#-
  on-run-end: advance the watermark when every tagged model built successfully, else clear it. Raw cannot change
  during a build (dbt holds the file's only read-write handle), so its newest ingested_at is what was absorbed.
  The row also says which invocation wrote the tables, which one it built on, and whether the tagged marts changed
  only at the affected runs (`keyed`): etl.publish then patches the previous serving file instead of copying them.
  `build_incremental_marts` lists the tagged marts and their run key for it (config meta `incremental_runs`),
  `build_models_run` the models this invocation ran (a mart it did not run is unchanged since the last one).
-#}
{% macro record_build_watermark(results) -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set tagged = [] -%}
    {%- set marts = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and 'incremental_runs' in node.tags -%}
            {%- do tagged.append(node.unique_id) -%}
            {%- set key = node.config.meta.get('incremental_runs') -%}
            {%- if key -%}
                {%- do marts.append([node.schema, node.alias or node.name, key['uid_column'], key['affected']]) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set built = [] -%}
    {%- set touched = [] -%}
    {%- set models_ran = [] -%}
    {%- for result in results -%}
        {%- if result.node.resource_type == 'model' -%}
            {%- do models_ran.append([result.node.schema, result.node.alias or result.node.name]) -%}
        {%- endif -%}
        {%- if result.node.unique_id in tagged -%}
            {%- do touched.append(result.node.unique_id) -%}
            {%- if result.status == 'success' -%}{%- do built.append(result.node.unique_id) -%}{%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if models_ran | length == 0 -%}{{ return('select 1') }}{%- endif -%}
    {#- Plain SQL only: a run_query here would open a transaction that dbt rolls back after the hook. -#}
    {%- set relation = build_watermark_relation() -%}
    {%- set previous = '(select max(ingested_through) from _build_watermark_before)' -%}
    {%- if touched | length == 0 -%}
        {%- set through_sql, keyed_sql = previous, 'true' -%}
    {%- elif built | length == tagged | length -%}
        {%- set through_sql = '(select max(ingested_at) from raw.tekton_objects)' -%}
        {%- set keyed_sql = 'false' if flags.FULL_REFRESH else previous ~ ' is not null' -%}
    {%- else -%}
        {%- set through_sql, keyed_sql = 'null::timestamptz', 'false' -%}
    {%- endif -%}
    create table if not exists {{ relation }} (
        ingested_through timestamptz,
        previous_through timestamptz,
        invocation_id varchar,
        previous_invocation_id varchar,
        keyed boolean
    );
    create or replace temp table _build_watermark_before as select * from {{ relation }};
    create or replace table {{ relation }} as
    select
        {{ through_sql }} as ingested_through,
        {{ previous }} as previous_through,
        '{{ invocation_id }}' as invocation_id,
        (select max(invocation_id) from _build_watermark_before) as previous_invocation_id,
        {{ keyed_sql }} as keyed;
    drop table _build_watermark_before;
    create or replace table {{ relation.incorporate(path={'identifier': 'build_incremental_marts'}) }} (
        schema_name varchar, table_name varchar, uid_column varchar, affected varchar
    );
    {%- for schema, name, uid_column, affected in marts %}
    insert into {{ relation.incorporate(path={'identifier': 'build_incremental_marts'}) }}
        values ('{{ schema }}', '{{ name }}', '{{ uid_column }}', '{{ affected }}');
    {%- endfor %}
    {#- Every model this invocation ran (whatever its outcome): publish re-copies only those of the other marts. #}
    create or replace table {{ relation.incorporate(path={'identifier': 'build_models_run'}) }} (
        schema_name varchar, table_name varchar
    );
    {%- for schema, name in models_ran %}
    insert into {{ relation.incorporate(path={'identifier': 'build_models_run'}) }} values ('{{ schema }}', '{{ name }}');
    {%- endfor %}
{%- endmacro %}
