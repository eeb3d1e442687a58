{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_lineage': 'edge'},
    )
}}
/* depends_on: {{ ref('int_lineage__node_changes') }} */

{#-
  fct_lineage_edges as integer node keys (fct_lineage_nodes.node_key), sorted by source_key. The Lineage page walks
  this table: a hop is a semi-join on one BIGINT column whose min/max filter skips every row group outside the time
  window of the frontier, instead of a scan of every edge's id strings. Kinds and ids are looked up by key in
  fct_lineage_nodes afterwards (keys only here: the ids would double the edges' size in the serving file).
  Incremental builds replace the edges with an end among the changed nodes (int_lineage__node_changes): every
  edge that changed has one, and so has every edge whose keys moved.
-#}
with nodes as (
    select node_key, node_id from {{ ref('fct_lineage_nodes') }}
),

edges as (
    select * from {{ ref('fct_lineage_edges') }}
    {%- if incremental_runs_mode() == 'keys' %}
    where source_id in (select node_id from {{ ref('int_lineage__node_changes') }} where node_key is not null)
        or target_id in (select node_id from {{ ref('int_lineage__node_changes') }} where node_key is not null)
    {%- endif %}
)

select
    sources.node_key as source_key,
    targets.node_key as target_key,
    edges.cluster,
    edges.relation,
    edges.observed_at
from edges
inner join nodes as sources on sources.node_id = edges.source_id
inner join nodes as targets on targets.node_id = edges.target_id
order by source_key, target_key
