{#-
  persist_docs (the marts' table and column descriptions as DuckDB comments) without rewriting what is already
  there. dbt-duckdb writes every comment after every build of a model: for a mart that an incremental build
  appends to, that is a `comment on table`, two column listings and a `comment on column` per column, each a query
  of its own, every build, to store the text the table already holds. Here the model's stored comments are read in
  one query (in the model's transaction, so a table created by this build shows none) and the comments that differ
  from the YAML are written in one statement: a new table gets them all, an incremental mart usually none, and an
  edited description still reaches the table on the next build.
-#}
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set stored_sql -%}
        select null as column_name, comment
        from duckdb_tables()
        where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
            and table_name = '{{ relation.identifier }}'
        union all
        select column_name, comment
        from duckdb_columns()
        where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
            and table_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set stored = namespace(table=none, columns={}) -%}
    {%- for row in run_query(stored_sql).rows -%}
        {%- if row[0] is none -%}
            {%- set stored.table = row[1] or '' -%}
        {%- else -%}
            {%- do stored.columns.update({row[0]: row[1] or ''}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- if for_relation and config.persist_relation_docs() and model.description
        and model.description != stored.table -%}
        {%- do statements.append(alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- for name, column in model.columns.items()
            if name in stored.columns and (column.description or '') != stored.columns[name] -%}
            {%- set quoted = adapter.quote(name) if column.quote else name -%}
            {%- do statements.append(
                'comment on column ' ~ relation ~ '.' ~ quoted ~ ' is ' ~ duckdb_escape_comment(column.description or '') ~ ';') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if statements -%}
        {%- do run_query(statements | join('\n')) -%}
    {%- endif -%}
{%- endmacro %}
