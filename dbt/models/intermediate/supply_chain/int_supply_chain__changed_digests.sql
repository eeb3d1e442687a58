{{ config(materialized='table', tags=['incremental_runs']) }}
/* depends_on: {{ ref('int_build__affected_runs') }}, {{ ref('fct_artifacts') }} */

{#-
  The produced digests whose consumptions an incremental build recomputes for every run, not only for the
  affected ones: whether a digest is produced at all changes only with one of its producers, so these are the
  digests the affected runs produce now, and the digests int_supply_chain__consumptions held that nobody produces
  any more. Empty outside an incremental build.
-#}
{%- set watermark = build_watermark() if not flags.FULL_REFRESH else '' %}
{%- set old_consumptions = existing_relation('intermediate', 'int_supply_chain__consumptions') %}
{%- if watermark == '' %}
select null::varchar as artifact_digest
where false
{%- else %}
select artifact_digest
from {{ ref('fct_artifacts') }}
where {{ in_affected_keys('cluster', 'producer_run_uid', 'runs') }}
{%- if old_consumptions is not none %}
union
select old.artifact_digest
from {{ old_consumptions }} as old
anti join {{ ref('fct_artifacts') }} as produced on produced.artifact_digest = old.artifact_digest
{%- endif %}
{%- endif %}
