{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'emitter_run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  Every artifact a run names in its results by the Chains type hints, before attribution to a producer:
  `*IMAGE_URL` + `*IMAGE_DIGEST` and `*ARTIFACT_URI` + `*ARTIFACT_DIGEST` paired by shared prefix, `IMAGES`
  (`uri@digest` entries separated by commas or newlines, or a JSON array of them), and `*ARTIFACT_OUTPUTS` objects
  `{uri, digest}`. Entries without a valid `alg:hex` digest or without a URI are dropped, as Chains drops them.
  A run's rows come from its own results only, so an incremental build recomputes the affected runs.
-#}
with results as (
    select cluster, run_uid, run_kind, name, value_json, value_text
    from {{ ref('stg_tekton__run_results') }}
    where (
        right(name, 9) = 'IMAGE_URL'
        or right(name, 12) = 'IMAGE_DIGEST'
        or name = 'IMAGES'
        or right(name, 12) = 'ARTIFACT_URI'
        or right(name, 15) = 'ARTIFACT_DIGEST'
        or right(name, 16) = 'ARTIFACT_OUTPUTS'
    ) {{ affected_filter('cluster', 'run_uid', 'runs') }}
    {%- if incremental_runs_mode() == 'keys' %}
    {#- A fence for DuckDB's optimizer, which otherwise pushes the readers' filters (the digest and URI regexes
        below), OR-ed, into this CTE beneath the affected-run semi-join: they then ran over every such result of the
        history instead of the affected runs' (0.6 s against 0.15 s at 1M). Not in a full build, which reads them
        all anyway. #}
    offset 0
    {%- endif %}
),

uri_halves as (
    select cluster, run_uid, run_kind, 'image' as artifact_kind, left(name, length(name) - 9) as prefix,
        value_text as uri
    from results
    where right(name, 9) = 'IMAGE_URL'
    union all
    select cluster, run_uid, run_kind, 'artifact', left(name, length(name) - 12), value_text
    from results
    where right(name, 12) = 'ARTIFACT_URI'
),

digest_halves as (
    select cluster, run_uid, run_kind, 'image' as artifact_kind, left(name, length(name) - 12) as prefix,
        value_text as digest
    from results
    where right(name, 12) = 'IMAGE_DIGEST'
    union all
    select cluster, run_uid, run_kind, 'artifact', left(name, length(name) - 15), value_text
    from results
    where right(name, 15) = 'ARTIFACT_DIGEST'
),

paired as (
    select uri_halves.cluster, uri_halves.run_uid, uri_halves.run_kind, uri_halves.artifact_kind,
        uri_halves.uri, digest_halves.digest
    from uri_halves
    inner join digest_halves
        on digest_halves.cluster = uri_halves.cluster
        and digest_halves.run_uid = uri_halves.run_uid
        and digest_halves.artifact_kind = uri_halves.artifact_kind
        and digest_halves.prefix = uri_halves.prefix
),

image_list_entries as (
    select cluster, run_uid, run_kind, trim(entry) as entry
    from (
        select cluster, run_uid, run_kind, unnest({{ split_image_list('value_json', 'value_text') }}) as entry
        from results
        where name = 'IMAGES'
    ) as entries
),

image_list as (
    select cluster, run_uid, run_kind, 'image' as artifact_kind,
        regexp_extract(entry, '^(.*)@([^@]*)$', 1) as uri,
        regexp_extract(entry, '^(.*)@([^@]*)$', 2) as digest
    from image_list_entries
    where entry like '%@%'
),

output_objects as (
    select cluster, run_uid, run_kind, unnest({{ json_objects('value_json') }}) as output
    from results
    where right(name, 16) = 'ARTIFACT_OUTPUTS'
),

structured_outputs as (
    select cluster, run_uid, run_kind, 'artifact' as artifact_kind,
        output ->> 'uri' as uri,
        output ->> 'digest' as digest
    from output_objects
),

found as (
    select * from paired
    union all
    select * from image_list
    union all
    select * from structured_outputs
),

normalised as (
    select
        cluster,
        run_uid as emitter_run_uid,
        run_kind as emitter_run_kind,
        artifact_kind,
        {{ artifact_base_uri('uri') }} as artifact_uri,
        {{ normalize_digest('digest') }} as artifact_digest
    from found
)

select distinct cluster, emitter_run_uid, emitter_run_kind, artifact_kind, artifact_uri, artifact_digest
from normalised
where artifact_uri is not null and artifact_digest is not null
