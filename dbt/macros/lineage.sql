{#-
  The Lineage page's read models (fct_lineage_nodes, fct_lineage_graph, fct_lineage_node_ids) and their incremental
  builds (docs/dbt.md "Incremental builds", lineage).

  node_key = bucket * 2^31 + the node's rank by node_id among the nodes of its bucket, where the bucket is the
  whole second of the node's first_at. Keys therefore follow time (a walk from one node reads a few row groups of
  the key-sorted tables), depend only on the nodes of one second (an incremental build renumbers the seconds it
  touches, nothing else), and equal those of a full build. Buckets: 0 .. 2^32 - 2 for first_at from 1970 to 2106
  (clamped), 2^32 - 1 for nodes without first_at; the largest key is 2^63 - 1.
-#}

{#- A case, not coalesce: DuckDB's greatest() and least() skip nulls, so they would put a null first_at at 0. -#}
{% macro lineage_bucket(first_at) -%}
    case
        when {{ first_at }} is null then 4294967295
        else least(greatest(epoch_us({{ first_at }}) // 1000000, 0), 4294967294)
    end
{%- endmacro %}

{% macro lineage_node_key(bucket, node_id) -%}
    {{ bucket }} * 2147483648 + row_number() over (partition by {{ bucket }} order by {{ node_id }}) - 1
{%- endmacro %}

{#- The bucket a node_key belongs to. -#}
{% macro lineage_key_bucket(node_key) -%}
    ({{ node_key }} // 2147483648)
{%- endmacro %}

{#- The run nodes' labels: name, pipeline (the pipeline task, else the task, for TaskRuns) and status. -#}
{% macro lineage_run_labels(node_ids=none) -%}
    select pipeline_run_uid as node_id, pipeline_run_name as run_name, pipeline_name as run_pipeline, status
    from {{ ref('fct_pipeline_runs') }}
    {%- if node_ids %} where pipeline_run_uid in ({{ node_ids }}){% endif %}
    union all
    select task_run_uid, task_run_name, coalesce(pipeline_task, task_name), status
    from {{ ref('fct_task_runs') }}
    {%- if node_ids %} where task_run_uid in ({{ node_ids }}){% endif %}
{%- endmacro %}

{#- The node changes of this build (int_lineage__node_changes), in the working file. -#}
{% macro lineage_changes_relation() -%}
    {{ return(intermediate_relation('int_lineage__node_changes')) }}
{%- endmacro %}

{#-
  The rows of a read model (meta `incremental_lineage`) that a keyed build replaces, as they stood before it: 'node'
  rows of the changed nodes by node_id, 'edge' rows with an end among their old keys. The project-wide pre-hook
  (`delete_affected_rows`) deletes them; the model's select then appends their replacements.
-#}
{% macro lineage_replaced_rows(kind) -%}
    {%- set changes = lineage_changes_relation() -%}
    {%- if kind == 'node' -%}
        node_id in (select node_id from {{ changes }})
    {%- elif kind == 'edge' -%}
        (source_key in (select old_node_key from {{ changes }}) or target_key in (select old_node_key from {{ changes }}))
    {%- else -%}
        {{ exceptions.raise_compiler_error("incremental_lineage: unknown kind '" ~ kind ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#-
  The rows a keyed build appended to a read model (meta `incremental_lineage`): 'node' rows by node_id, 'edge' rows
  by either end's key. A key test may read only these: an appended row's keys fall in a touched second, and every
  node of a touched second is among the changed nodes, whose old rows are gone; so an appended row can only collide
  with another appended row.
-#}
{% macro lineage_changed_rows(kind) -%}
    {%- set changed = 'select node_key, node_id from ' ~ lineage_changes_relation() ~ ' where node_key is not null' -%}
    {%- if kind == 'node' -%}
        node_id in (select node_id from ({{ changed }}))
    {%- elif kind == 'edge' -%}
        (source_key in (select node_key from ({{ changed }})) or target_key in (select node_key from ({{ changed }})))
    {%- else -%}
        {{ exceptions.raise_compiler_error("incremental_lineage: unknown kind '" ~ kind ~ "'") }}
    {%- endif -%}
{%- endmacro %}
