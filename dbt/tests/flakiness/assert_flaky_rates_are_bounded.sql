{#- Several parents: Dagster attaches this check to fct_flaky_pipelines (dagster-dbt reads meta dagster.ref). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_flaky_pipelines'}}}) }}
{#- Flaky failures are a subset of failures, and every rate is a share: between 0 and 1. -#}
select 'pipeline' as level, cluster, namespace, pipeline_name, cast(null as varchar) as pipeline_task
from {{ ref('fct_flaky_pipelines') }}
where flaky_failures > failures
    or flaky_failure_rate < 0 or flaky_failure_rate > 1
    or flip_rate < 0 or flip_rate > 1
    or (runs < 2) <> (flip_rate is null)
    or is_flaky <> (flaky_failures > 0)
union all
select 'task', cluster, namespace, pipeline_name, pipeline_task
from {{ ref('fct_flaky_tasks') }}
where flaky_failures > failures
    or flaky_failure_rate < 0 or flaky_failure_rate > 1
    or flip_rate < 0 or flip_rate > 1
    or (runs < 2) <> (flip_rate is null)
    or is_flaky <> (flaky_failures + retry_passes > 0)
