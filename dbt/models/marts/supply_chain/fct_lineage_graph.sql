{#-
  fct_lineage_edges with the integer keys of both ends (fct_lineage_nodes.node_key), sorted by source_key. The
  Lineage page walks this table on the keys: a hop is a semi-join on one BIGINT column whose min/max filter skips
  every row group outside the time window of the frontier, instead of a scan of every edge's id strings.
-#}
with nodes as (
    select node_key, node_id from {{ ref('fct_lineage_nodes') }}
)

select
    sources.node_key as source_key,
    targets.node_key as target_key,
    edges.cluster,
    edges.source_kind,
    edges.source_id,
    edges.target_kind,
    edges.target_id,
    edges.relation,
    edges.observed_at
from {{ ref('fct_lineage_edges') }} as edges
inner join nodes as sources on sources.node_id = edges.source_id
inner join nodes as targets on targets.node_id = edges.target_id
order by source_key, target_key
