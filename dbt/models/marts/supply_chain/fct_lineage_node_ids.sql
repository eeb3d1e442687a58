{#-
  fct_lineage_nodes' (node_id, node_key) sorted by node_id: where the Lineage page turns its start ids into keys.
  Sorted ids let the min/max filter of a lookup skip every row group but the one holding the id, where a scan of
  fct_lineage_nodes (sorted by key) compared every node id.
-#}
select node_id, node_key
from {{ ref('fct_lineage_nodes') }}
order by node_id
