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

{#-
  Lookups every node of one invocation shares, computed once: dbt hands every node's context the same `graph`
  dict, so they are kept there under the invocation's id (a later invocation in the same process recomputes them).
  - `models`: each model node by '<schema>.<identifier>' (one loop over the graph per build instead of one per
    test and per lookup);
  - `watermark`: the build watermark (one query per build instead of one per model and test). It cannot change
    during the invocation: only the on-run-end hook writes it.
-#}
{% macro build_lookups() -%}
    {%- set cached = graph.get('tekton_build_lookups') -%}
    {%- if cached and cached['invocation_id'] == invocation_id -%}{{ return(cached) }}{%- endif -%}
    {%- set models = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- do models.update({node.schema ~ '.' ~ (node.alias or node.name): node}) -%}
    {%- endfor -%}
    {%- set lookups = {'invocation_id': invocation_id, 'models': models} -%}
    {%- do graph.update({'tekton_build_lookups': lookups}) -%}
    {{ return(lookups) }}
{%- endmacro %}

{#- The model node whose relation is <schema>.<identifier>, or none. -#}
{% macro model_node(schema, identifier) -%}
    {{ return(build_lookups()['models'].get(schema ~ '.' ~ identifier)) }}
{%- endmacro %}

{#- The watermark as text ('' when none), read once per invocation (build_lookups). -#}
{% macro build_watermark() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set lookups = build_lookups() -%}
    {%- if 'watermark' in lookups -%}{{ return(lookups['watermark']) }}{%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema='intermediate', identifier='build_watermark') -%}
    {%- set watermark = namespace(text='') -%}
    {%- if relation is not none -%}
        {%- set rows = run_query('select max(ingested_through)::varchar from ' ~ relation).columns[0].values() -%}
        {%- set watermark.text = rows[0] if rows and rows[0] is not none else '' -%}
    {%- endif -%}
    {%- do lookups.update({'watermark': watermark.text}) -%}
    {{ return(watermark.text) }}
{%- endmacro %}

{#- 'keys': recompute only affected runs; 'all': recompute everything in place; 'full': table is (re)created. -#}
{% macro incremental_runs_mode() -%}
    {#- Unit tests (no `this`) check the SQL of a full build. -#}
    {%- if this is none or model.resource_type == 'unit_test' or not is_incremental() -%}{{ return('full') }}{%- endif -%}
    {{ return('keys' if build_watermark() != '' else 'all') }}
{%- endmacro %}

{#-
  The affected keys of an affected set, as (affected_cluster, affected_uid):
  - 'PipelineRun' / 'TaskRun': the affected runs of that kind (int_build__affected_runs);
  - 'runs': every affected run, whatever its kind (uids are unique across kinds), for models with rows of both;
  - 'comparisons': the compared PipelineRuns whose comparison rows are redone (int_run_comparisons__affected).
  Renamed columns, so that unqualified column arguments of the callers can only mean the outer row's columns.
-#}
{% macro affected_keys(affected, direct=false) -%}
    {%- if affected == 'comparisons' -%}
        select cluster as affected_cluster, pipeline_run_uid as affected_uid
        from {{ affected_relation('int_run_comparisons__affected', direct) }}
    {%- elif affected == 'runs' -%}
        select cluster as affected_cluster, run_uid as affected_uid
        from {{ affected_relation('int_build__affected_runs', direct) }}
    {%- elif affected in ('PipelineRun', 'TaskRun') -%}
        select cluster as affected_cluster, run_uid as affected_uid
        from {{ affected_relation('int_build__affected_runs', direct) }}
        where run_kind = '{{ affected }}'
    {%- else -%}
        {{ exceptions.raise_compiler_error("incremental_runs: unknown affected set '" ~ affected ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#-
  `(<cluster>, <uid>) in (<the affected keys>)`: whether a row belongs to an affected run. An `in` over the key pair,
  not a correlated `exists`: DuckDB plans the `exists` as a delim join, which cost 2-3x the time of this plain semi
  join when it picks the affected rows out of a table of 800,000 task runs (1.0-1.6 s against 0.4-0.6 s; measured).
-#}
{% macro in_affected_keys(cluster_column, uid_column, affected, direct=false) -%}
    ({{ cluster_column }}, {{ uid_column }}) in (
        select (affected_cluster, affected_uid) from ({{ affected_keys(affected, direct) }})
    )
{%- endmacro %}

{#-
  The rows a keyed build of a model replaces, as a predicate over its (unqualified) columns: those of its affected
  keys and those its `replace_always` names (meta `incremental_runs`, see delete_affected_rows). Its pre-hook
  deletes them, its scoped key tests read them, and a model that reads its rows one to one recomputes its own rows
  from them (`keyed_rows_of`).
-#}
{% macro keyed_rows(key, direct=false) -%}
    {{ return('(' ~ (key.get('replace_always') or 'false') ~ ') or '
        ~ in_affected_keys('cluster', '(' ~ key['uid_column'] ~ ')', key['affected'], direct)) }}
{%- endmacro %}

{#- keyed_rows of another model, the one at <schema>.<identifier>. -#}
{% macro keyed_rows_of(schema, identifier) -%}
    {{ return(keyed_rows(model_node(schema, identifier).config.meta['incremental_runs'])) }}
{%- endmacro %}

{#- `and <semi-join on the affected keys>` for the driving rows of a tagged model; nothing outside 'keys' mode. -#}
{% macro affected_filter(cluster_column, uid_column, affected) -%}
    {%- if incremental_runs_mode() == 'keys' %}
    and {{ in_affected_keys(cluster_column, uid_column, affected) }}
    {%- endif %}
{%- endmacro %}

{#-
  Pre-hook of every model (dbt_project.yml): an incremental model whose config meta `incremental_runs` names its
  run key loses the rows about to be recomputed: the affected keys' rows in 'keys' mode, all of them in 'all'
  mode. Nothing for any other model. The meta:
  - `uid_column`: the run uid of a row: a column, or an SQL expression over the row's (unqualified) columns;
  - `affected`: the affected set it is keyed on (`affected_keys`);
  - `replace_always` (optional): an SQL predicate for rows the model rebuilds in every build (rows that depend on
    more than their run, e.g. consumed_by edges on the set of all produced digests);
  - `run_columns` (optional, default `['cluster', <uid_column>]`): columns whose values determine a row's run
    (and its `replace_always` predicate). A key test whose columns include them all is scoped (`keyed_test_scope`).
  The lineage read models, keyed by second instead (meta `incremental_lineage`: 'node' or 'edge'), lose the rows
  of the nodes int_lineage__node_changes lists (`lineage_replaced_rows` in macros/lineage.sql).
  The staging models (meta `incremental_raw`) replace their rows themselves in 'keys' mode (delete+insert on their
  unique_key, of the runs whose raw object is new since their newest ingested_at): they only get the mark. In
  'all' mode they lose all their rows and read all of raw (`new_raw_rows_filter`).
  The mark that says the model was keyed goes into its own file's `intermediate.build_keyed_models` (the marts have
  a file of their own, and a DuckDB transaction writes to one file only).
-#}
{% macro delete_affected_rows() -%}
    {%- set meta = model.config.get('meta') or {} -%}
    {%- set key = meta.get('incremental_runs') -%}
    {%- if model.config.get('materialized') != 'incremental' -%}{{ return('') }}{%- endif -%}
    {%- if key -%}
        {%- set replaced = keyed_rows(key) -%}
    {%- elif meta.get('incremental_lineage') -%}
        {%- set replaced = lineage_replaced_rows(meta['incremental_lineage']) -%}
    {%- elif meta.get('incremental_raw') -%}
        {%- set replaced = '' -%}
    {%- else -%}
        {{ return('') }}
    {%- endif -%}
    {%- set mode = incremental_runs_mode() -%}
    {%- if mode == 'keys' -%}
        {%- if replaced %}
        delete from {{ this }} where {{ replaced }};
        {%- endif %}
        {#- In the model's transaction: the mark exists only if the model's new rows were committed. #}
        insert into {{ keyed_models_relation(this.database) }} values ('{{ invocation_id }}', '{{ this.identifier }}')
    {%- elif mode == 'all' -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- ref() in models (their depends_on comment declares it); the bare relation in tests, which cannot ref a model
    outside their parents (they only read it after checking that their model was keyed on it in this build). -#}
{% macro affected_relation(identifier, direct) -%}
    {{ return(intermediate_relation(identifier) if direct else ref(identifier)) }}
{%- endmacro %}

{% macro intermediate_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier=identifier)) }}
{%- endmacro %}

{#- Models this invocation built in 'keys' mode (marked by their pre-hook), one table per database file; emptied
    when a run starts. etl.publish drops the marts file's copy before serving that file. -#}
{% macro keyed_models_relation(database) -%}
    {{ return(api.Relation.create(database=database, schema='intermediate', identifier='build_keyed_models')) }}
{%- endmacro %}

{#- Every database the models write (the working file, the marts file). -#}
{% macro model_databases() -%}
    {%- set databases = [target.database] -%}
    {%- for node in (graph.nodes.values() if execute else []) -%}
        {%- if node.resource_type == 'model' and node.database not in databases -%}
            {%- do databases.append(node.database) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(databases) }}
{%- endmacro %}

{% macro start_keyed_models() -%}
    {%- for database in model_databases() %}
    create schema if not exists {{ database }}.intermediate;
    create table if not exists {{ keyed_models_relation(database) }} (invocation_id varchar, model varchar);
    delete from {{ keyed_models_relation(database) }};
    {%- endfor %}
{%- endmacro %}

{#-
  `where <scope>` for a uniqueness test of a tagged model, or nothing (the whole table is tested). Inside a
  `dbt build` that built the model in 'keys' mode, only the affected keys' rows (and the rows it rebuilds always)
  are tested, which is provably the same check: the key columns include the run key (cluster, uid column, or the
  meta's `run_columns`), so two rows that collide share their run and their `replace_always` verdict and are both
  in scope or both out of it; rows out of scope are exactly as the previous build left them, and that
  build passed all its tests (the watermark this build keys on is set only by a build whose every model and test
  passed, `record_build_watermark`). A model built whole ('all' / 'full' mode, no mark) is tested whole. The
  lineage read models (meta `incremental_lineage`) are keyed by second, not by run: their scope is the changed
  nodes' rows (`lineage_changed_rows` in macros/lineage.sql says why).
  The staging models (meta `incremental_raw`) rewrite all rows of a unique_key together, from one raw object: a
  key test whose columns include the unique_key reads the rows whose `ingested_at` is not older than the
  watermark. The raw objects ingested since then are newer, so every row this build (or a build killed since the
  last finished one) wrote is in scope; the older rows are exactly as the last finished build tested them.
-#}
{% macro keyed_test_scope(model, columns) -%}
    {%- if not execute or flags.FULL_REFRESH or flags.WHICH != 'build' -%}{{ return('') }}{%- endif -%}
    {%- set node = model_node(model.schema, model.identifier) -%}
    {%- set meta = node.config.meta if node else {} -%}
    {%- set key = meta.get('incremental_runs') -%}
    {%- if build_watermark() == '' -%}{{ return('') }}{%- endif -%}
    {%- if meta.get('incremental_lineage') -%}
        {#- The lineage read models (macros/lineage.sql): their rows of the changed nodes. -#}
        {%- set scope = lineage_changed_rows(meta['incremental_lineage']) -%}
    {%- elif meta.get('incremental_raw') -%}
        {%- if node.config.unique_key | reject('in', columns) | list -%}{{ return('') }}{%- endif -%}
        {%- set scope = "ingested_at >= '" ~ build_watermark() ~ "'::timestamptz" -%}
    {%- elif not key or (key.get('run_columns') or ['cluster', key['uid_column']]) | reject('in', columns) | list -%}
        {{ return('') }}
    {%- else -%}
        {%- set scope = keyed_rows(key, direct=true) -%}
    {%- endif %}
    where not exists (
        select 1 from {{ keyed_models_relation(model.database) }}
        where invocation_id = '{{ invocation_id }}' and model = '{{ model.identifier }}'
    ) or {{ scope }}
{%- endmacro %}

{#-
  The relation of a model as it stood before this build touched it (its old rows say which runs it used to link
  or pair); none when it does not exist yet. Looked up in the model's own database (the marts have their own file).
-#}
{% macro existing_relation(schema, identifier) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set node = model_node(schema, identifier) -%}
    {%- set database = node.database if node else target.database -%}
    {{ return(adapter.get_relation(database=database, schema=schema, identifier=identifier)) }}
{%- endmacro %}

{#-
  on-run-end: advance the watermark when every tagged model built successfully, else clear it. Raw cannot change
  during a build (dbt holds the file's only read-write handle), so its newest ingested_at is what was absorbed.
  The row also says which invocation wrote the tables, which one it built on, and whether the tagged models changed
  only at the affected runs (`keyed`).
-#}
{% macro record_build_watermark(results) -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set tagged = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and 'incremental_runs' in node.tags -%}
            {%- do tagged.append(node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set built = [] -%}
    {%- set touched = [] -%}
    {%- set models_ran = namespace(count=0) -%}
    {%- set failed_tests = [] -%}
    {%- for result in results -%}
        {%- if result.node.resource_type == 'model' -%}
            {%- set models_ran.count = models_ran.count + 1 -%}
        {%- endif -%}
        {%- if result.node.resource_type == 'test' and result.status in ('fail', 'error') -%}
            {%- do failed_tests.append(result.node.unique_id) -%}
        {%- endif -%}
        {%- if result.node.unique_id in tagged -%}
            {%- do touched.append(result.node.unique_id) -%}
            {%- if result.status == 'success' -%}{%- do built.append(result.node.unique_id) -%}{%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if models_ran.count == 0 -%}{{ return('select 1') }}{%- endif -%}
    {#- Plain SQL only: a run_query here would open a transaction that dbt rolls back after the hook. -#}
    {%- set relation = build_watermark_relation() -%}
    {%- set previous = '(select max(ingested_through) from _build_watermark_before)' -%}
    {#- Tagged models rebuilt without their data tests (`dbt run`, or tests excluded) are not known to pass them. #}
    {%- set untested = flags.WHICH != 'build' or 'test' in (flags.EXCLUDE_RESOURCE_TYPES or []) -%}
    {%- if failed_tests | length > 0 or (untested and touched | length > 0) -%}
        {#- Not a finished build: the next one recomputes and tests everything (keyed_test_scope relies on it). #}
        {%- set through_sql, keyed_sql = 'null::timestamptz', 'false' -%}
    {%- elif touched | length == 0 -%}
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
{%- endmacro %}
