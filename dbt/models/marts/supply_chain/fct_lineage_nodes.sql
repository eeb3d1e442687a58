{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_lineage': 'node'},
    )
}}
/* depends_on: {{ ref('int_lineage__node_changes') }} */

{#-
  One row per node of fct_lineage_edges with an integer node_key in time order (macros/lineage.sql: the second of
  its first observed_at, then its id), and for run nodes the label the Lineage page draws (name, pipeline or
  task, status). Keys in time order keep a commit's runs, task runs and artifacts close together in the key-sorted
  tables, so a walk from one node reads a few row groups instead of every edge (see fct_lineage_graph).
  Incremental builds replace the nodes of the seconds int_lineage__node_changes names.
-#}
{%- if incremental_runs_mode() == 'keys' %}
select node_key, node_kind, node_id, first_at, run_name, run_pipeline, run_status
from {{ ref('int_lineage__node_changes') }}
where node_key is not null
order by node_key
{%- else %}
with edges as (
    select source_kind, source_id, target_kind, target_id, observed_at from {{ ref('fct_lineage_edges') }}
),

ends as (
    select source_id as node_id, source_kind as node_kind, observed_at from edges
    union all
    select target_id, target_kind, observed_at from edges
),

nodes as (
    select node_id, min(node_kind) as node_kind, min(observed_at) as first_at
    from ends
    group by node_id
),

run_labels as (
    {{ lineage_run_labels() }}
)

select
    {{ lineage_node_key(lineage_bucket('nodes.first_at'), 'nodes.node_id') }} as node_key,
    nodes.node_kind,
    nodes.node_id,
    nodes.first_at,
    run_labels.run_name,
    run_labels.run_pipeline,
    run_labels.status as run_status
from nodes
-- Equality only: a one-sided condition (e.g. on node_kind) in a LEFT JOIN makes DuckDB loop instead of hash.
-- Run uids never equal a commit, event or digest id, so only run nodes find a label.
left join run_labels on run_labels.node_id = nodes.node_id
order by node_key
{%- endif %}
