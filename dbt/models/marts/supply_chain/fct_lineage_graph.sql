{#-
  fct_lineage_edges as integer node keys (fct_lineage_nodes.node_key), sorted by source_key. The Lineage page walks
  this table: a hop is a semi-join on one BIGINT column whose min/max filter skips every row group outside the time
  window of the frontier, instead of a scan of every edge's id strings. Kinds and ids are looked up by key in
  fct_lineage_nodes afterwards (keys only here: the ids would double the edges' size in the serving file).
-#}
with nodes as (
    select node_key, node_id from {{ ref('fct_lineage_nodes') }}
)

select
    sources.node_key as source_key,
    targets.node_key as target_key,
    edges.cluster,
    edges.relation,
    edges.observed_at
from {{ ref('fct_lineage_edges') }} as edges
inner join nodes as sources on sources.node_id = edges.source_id
inner join nodes as targets on targets.node_id = edges.target_id
order by source_key, target_key
