{#- One row per (cluster, namespace, pipeline_name): when it ran, how often, its last status and usual repo. -#}
with runs as (
    select * from {{ ref('fct_pipeline_runs') }}
),

latest as (
    select
        cluster,
        namespace,
        pipeline_name,
        status as last_status,
        row_number() over (
            partition by cluster, namespace, pipeline_name order by order_at desc, pipeline_run_uid desc
        ) as position
    from runs
),

repo_counts as (
    select
        cluster,
        namespace,
        pipeline_name,
        repo_url,
        row_number() over (
            partition by cluster, namespace, pipeline_name order by count(*) desc, repo_url
        ) as position
    from runs
    where repo_url is not null
    group by cluster, namespace, pipeline_name, repo_url
),

summary as (
    select
        cluster,
        namespace,
        pipeline_name,
        min(order_at) as first_run_at,
        max(order_at) as last_run_at,
        count(*) as runs
    from runs
    group by cluster, namespace, pipeline_name
)

select
    summary.cluster,
    summary.namespace,
    summary.pipeline_name,
    summary.first_run_at,
    summary.last_run_at,
    summary.runs,
    latest.last_status,
    repo_counts.repo_url
from summary
left join latest
    on latest.cluster = summary.cluster
    and latest.namespace is not distinct from summary.namespace
    and latest.pipeline_name = summary.pipeline_name
    and latest.position = 1
left join repo_counts
    on repo_counts.cluster = summary.cluster
    and repo_counts.namespace is not distinct from summary.namespace
    and repo_counts.pipeline_name = summary.pipeline_name
    and repo_counts.position = 1
