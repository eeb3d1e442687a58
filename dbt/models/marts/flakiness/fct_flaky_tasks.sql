{#-
  One row per (cluster, namespace, pipeline_name, pipeline_task) with a counted TaskRun in the window. A task is
  flaky when a failure of it has same_commit evidence or a run of it passed only after a retry.
-#}
with counted as (
    select
        *,
        lag(is_failing) over (
            partition by cluster, namespace, pipeline_name, pipeline_task order by order_at, task_run_uid
        ) as previous_is_failing
    from {{ ref('int_flaky__counted_task_runs') }}
),

outcomes as (
    select
        cluster,
        namespace,
        pipeline_name,
        pipeline_task,
        count(*) as runs,
        count(case when is_failing then 1 end) as failures,
        count(case when previous_is_failing <> is_failing then 1 end) as flips,
        count(case when status = 'succeeded' and failed_attempts >= 1 then 1 end) as retry_passes
    from counted
    group by cluster, namespace, pipeline_name, pipeline_task
),

evidence as (
    select * from {{ ref('fct_flaky_evidence') }} where level = 'task'
),

same_commit_runs as (
    select distinct cluster, failed_uid from evidence where kind = 'same_commit'
),

flaky_failures as (
    select
        counted.cluster,
        counted.namespace,
        counted.pipeline_name,
        counted.pipeline_task,
        count(*) as flaky_failures,
        sum(counted.duration_s) as wasted_s
    from same_commit_runs
    inner join counted
        on counted.cluster = same_commit_runs.cluster
        and counted.task_run_uid = same_commit_runs.failed_uid
    group by counted.cluster, counted.namespace, counted.pipeline_name, counted.pipeline_task
),

flakes as (
    select
        cluster,
        namespace,
        pipeline_name,
        pipeline_task,
        {{ sorted_distinct_list_agg('kind') }} as evidence_kinds,
        min(failed_at) as first_flake_at,
        max(failed_at) as last_flake_at
    from evidence
    group by cluster, namespace, pipeline_name, pipeline_task
)

select
    outcomes.cluster,
    outcomes.namespace,
    outcomes.pipeline_name,
    outcomes.pipeline_task,
    outcomes.runs,
    outcomes.failures,
    coalesce(flaky_failures.flaky_failures, 0) as flaky_failures,
    outcomes.retry_passes,
    cast(coalesce(flaky_failures.flaky_failures, 0) + outcomes.retry_passes as double) / outcomes.runs
        as flaky_failure_rate,
    case when outcomes.runs >= 2 then cast(outcomes.flips as double) / (outcomes.runs - 1) end as flip_rate,
    coalesce(flaky_failures.wasted_s, 0.0) as wasted_s,
    coalesce(flaky_failures.flaky_failures, 0) + outcomes.retry_passes > 0 as is_flaky,
    coalesce(flakes.evidence_kinds, []::varchar[]) as evidence_kinds,
    flakes.first_flake_at,
    flakes.last_flake_at,
    outcomes.flips
from outcomes
left join flaky_failures
    on flaky_failures.cluster = outcomes.cluster
    and flaky_failures.namespace = outcomes.namespace
    and flaky_failures.pipeline_name is not distinct from outcomes.pipeline_name
    and flaky_failures.pipeline_task = outcomes.pipeline_task
left join flakes
    on flakes.cluster = outcomes.cluster
    and flakes.namespace = outcomes.namespace
    and flakes.pipeline_name is not distinct from outcomes.pipeline_name
    and flakes.pipeline_task = outcomes.pipeline_task
