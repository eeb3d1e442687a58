{#-
  One row per (cluster, namespace, pipeline_name) with a counted PipelineRun in the window: how often it failed,
  how many of those failures were flaky (pipeline-level evidence), how often its outcome flipped, the time lost.
-#}
with counted as (
    select
        *,
        lag(is_failing) over (
            partition by cluster, namespace, pipeline_name order by order_at, pipeline_run_uid
        ) as previous_is_failing
    from {{ ref('int_flaky__counted_pipeline_runs') }}
),

outcomes as (
    select
        cluster,
        namespace,
        pipeline_name,
        count(*) as runs,
        count(case when is_failing then 1 end) as failures,
        count(case when previous_is_failing <> is_failing then 1 end) as flips
    from counted
    group by cluster, namespace, pipeline_name
),

evidence as (
    select * from {{ ref('fct_flaky_evidence') }} where level = 'pipeline'
),

flaky_runs as (
    select distinct cluster, failed_uid from evidence
),

flaky_failures as (
    select
        counted.cluster,
        counted.namespace,
        counted.pipeline_name,
        count(*) as flaky_failures,
        sum(counted.duration_s) as wasted_s,
        min(counted.completed_at) as first_flake_at,
        max(counted.completed_at) as last_flake_at
    from flaky_runs
    inner join counted
        on counted.cluster = flaky_runs.cluster
        and counted.pipeline_run_uid = flaky_runs.failed_uid
    group by counted.cluster, counted.namespace, counted.pipeline_name
),

kinds as (
    select cluster, namespace, pipeline_name, {{ sorted_distinct_list_agg('kind') }} as evidence_kinds
    from evidence
    group by cluster, namespace, pipeline_name
)

select
    outcomes.cluster,
    outcomes.namespace,
    outcomes.pipeline_name,
    outcomes.runs,
    outcomes.failures,
    coalesce(flaky_failures.flaky_failures, 0) as flaky_failures,
    cast(coalesce(flaky_failures.flaky_failures, 0) as double) / outcomes.runs as flaky_failure_rate,
    case when outcomes.runs >= 2 then cast(outcomes.flips as double) / (outcomes.runs - 1) end as flip_rate,
    coalesce(flaky_failures.wasted_s, 0.0) as wasted_s,
    coalesce(kinds.evidence_kinds, []::varchar[]) as evidence_kinds,
    flaky_failures.first_flake_at,
    flaky_failures.last_flake_at,
    coalesce(flaky_failures.flaky_failures, 0) > 0 as is_flaky,
    outcomes.flips
from outcomes
left join flaky_failures
    on flaky_failures.cluster = outcomes.cluster
    and flaky_failures.namespace = outcomes.namespace
    and flaky_failures.pipeline_name = outcomes.pipeline_name
left join kinds
    on kinds.cluster = outcomes.cluster
    and kinds.namespace = outcomes.namespace
    and kinds.pipeline_name = outcomes.pipeline_name
