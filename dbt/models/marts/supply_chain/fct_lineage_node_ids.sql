{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_lineage': 'node'},
    )
}}
/* depends_on: {{ ref('int_lineage__node_changes') }} */

{#-
  fct_lineage_nodes' (node_id, node_key) sorted by node_id: where the Lineage page turns its start ids into keys.
  Sorted ids let the min/max filter of a lookup skip every row group but the one holding the id, where a scan of
  fct_lineage_nodes (sorted by key) compared every node id. Incremental builds append the changed nodes' rows
  (sorted among themselves) after deleting their old ones.
-#}
select node_id, node_key
{%- if incremental_runs_mode() == 'keys' %}
from {{ ref('int_lineage__node_changes') }}
where node_key is not null
{%- else %}
from {{ ref('fct_lineage_nodes') }}
{%- endif %}
order by node_id
