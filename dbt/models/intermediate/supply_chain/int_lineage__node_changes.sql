{{ config(materialized='table', tags=['incremental_runs']) }}
/* depends_on: {{ ref('int_build__affected_runs') }}, {{ ref('int_supply_chain__changed_digests') }}, {{ ref('fct_lineage_edges') }}, {{ ref('fct_pipeline_runs') }}, {{ ref('fct_task_runs') }} */

{#-
  What an incremental build changes in the lineage read models (macros/lineage.sql): every node of every second
  (node_key bucket) that holds a touched node, as it is now, with its key before (old_node_key) and after
  (node_key; null for a node that no longer has an edge). Empty outside an incremental build.

  A node's kind, first_at and existence depend only on its edges, and its label only on its run. The touched
  nodes are therefore the ends of the edges that differ between fct_lineage_edges and the old fct_lineage_graph
  among the edges that may have changed (those of the affected runs, and the consumed_by edges of the digests in
  int_supply_chain__changed_digests, which fct_lineage_edges also recomputes), plus the affected runs themselves
  (their labels). Other nodes of their seconds keep kind, first_at and label, but may change rank. Reads the read
  models as the previous build left them: this model runs before them.
-#}
{%- set watermark = build_watermark() if not flags.FULL_REFRESH else '' %}
{%- set old_nodes = existing_relation('marts', 'fct_lineage_nodes') %}
{%- set old_graph = existing_relation('marts', 'fct_lineage_graph') %}
{%- if watermark == '' %}
select
    null::bigint as old_node_key,
    null::bigint as node_key,
    null::varchar as node_kind,
    null::varchar as node_id,
    null::timestamptz as first_at,
    null::varchar as run_name,
    null::varchar as run_pipeline,
    null::varchar as run_status
where false
{%- else %}
{%- if execute and (old_nodes is none or old_graph is none) %}
    {{ exceptions.raise_compiler_error(
        "marts.fct_lineage_nodes or marts.fct_lineage_graph is missing; run 'tekton-warehouse build --full-refresh'"
    ) }}
{%- endif %}
{#- fct_lineage_edges is read where needed, not through a shared CTE: each read then scans only its own columns
    and rows (a shared CTE wrote the whole table once more). -#}
{%- set edges = ref('fct_lineage_edges') %}
with affected as (
    select cluster, run_uid from {{ ref('int_build__affected_runs') }}
),

changed_digests as (
    select artifact_digest from {{ ref('int_supply_chain__changed_digests') }}
),

old_affected_keys as (
    select node_key from {{ old_nodes }} where node_id in (select run_uid from affected)
),

old_changed_digest_keys as (
    select node_key from {{ old_nodes }} where node_id in (select artifact_digest from changed_digests)
),

{#- The same selection on both sides (the owner run of an edge is its producer for `produces`, else its target),
    by uid only on the old side: a wider selection only touches more nodes, never fewer. Filtered before the ids
    are looked up. -#}
old_candidates as materialized (
    select cluster, source_key, target_key, relation, observed_at
    from {{ old_graph }}
    where (relation = 'consumed_by' and source_key in (select node_key from old_changed_digest_keys))
        or (relation = 'produces' and source_key in (select node_key from old_affected_keys))
        or (relation <> 'produces' and target_key in (select node_key from old_affected_keys))
),

old_ends as materialized (
    select node_key, node_kind, node_id
    from {{ old_nodes }}
    where node_key in (select source_key from old_candidates union select target_key from old_candidates)
),

old_edges as (
    select
        c.cluster,
        s.node_kind as source_kind,
        s.node_id as source_id,
        t.node_kind as target_kind,
        t.node_id as target_id,
        c.relation,
        c.observed_at
    from old_candidates as c
    inner join old_ends as s on s.node_key = c.source_key
    inner join old_ends as t on t.node_key = c.target_key
),

new_edges as (
    select cluster, source_kind, source_id, target_kind, target_id, relation, observed_at
    from {{ edges }}
    where {{ keyed_rows_of('marts', 'fct_lineage_edges') }}
),

changed_edges as (
    (select * from old_edges except select * from new_edges)
    union all
    (select * from new_edges except select * from old_edges)
),

touched as (
    select source_id as node_id from changed_edges
    union
    select target_id from changed_edges
    union
    select run_uid from affected
),

ends as (
    select source_id as node_id, source_kind as node_kind, observed_at
    from {{ edges }} where source_id in (select node_id from touched)
    union all
    select target_id, target_kind, observed_at
    from {{ edges }} where target_id in (select node_id from touched)
),

touched_now as (
    select node_id, min(node_kind) as node_kind, min(observed_at) as first_at
    from ends
    group by node_id
),

touched_before as (
    select node_key as old_node_key, node_id
    from {{ old_nodes }}
    where node_id in (select node_id from touched)
),

buckets as (
    select {{ lineage_bucket('first_at') }} as bucket from touched_now
    union
    select {{ lineage_key_bucket('old_node_key') }} from touched_before
),

run_labels as (
    {{ lineage_run_labels('select node_id from touched_now') }}
),

recomputed as (
    select
        touched_before.old_node_key,
        touched_now.node_kind,
        touched_now.node_id,
        touched_now.first_at,
        run_labels.run_name,
        run_labels.run_pipeline,
        run_labels.status as run_status
    from touched_now
    left join touched_before on touched_before.node_id = touched_now.node_id
    left join run_labels on run_labels.node_id = touched_now.node_id
),

untouched_neighbours as (
    select
        old_nodes.node_key as old_node_key,
        old_nodes.node_kind,
        old_nodes.node_id,
        old_nodes.first_at,
        old_nodes.run_name,
        old_nodes.run_pipeline,
        old_nodes.run_status
    from {{ old_nodes }} as old_nodes
    anti join touched on touched.node_id = old_nodes.node_id
    where {{ lineage_key_bucket('old_nodes.node_key') }} in (select bucket from buckets)
),

members as (
    select * from recomputed
    union all
    select * from untouched_neighbours
),

numbered as (
    select
        old_node_key,
        {{ lineage_node_key(lineage_bucket('first_at'), 'node_id') }} as node_key,
        node_kind,
        node_id,
        first_at,
        run_name,
        run_pipeline,
        run_status
    from members
),

vanished as (
    select
        touched_before.old_node_key,
        null::bigint as node_key,
        null::varchar as node_kind,
        touched_before.node_id,
        null::timestamptz as first_at,
        null::varchar as run_name,
        null::varchar as run_pipeline,
        null::varchar as run_status
    from touched_before
    anti join touched_now on touched_now.node_id = touched_before.node_id
)

select * from numbered
union all
select * from vanished
{%- endif %}
