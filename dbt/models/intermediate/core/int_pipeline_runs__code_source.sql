{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'pipeline_run_uid', 'affected': 'PipelineRun'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  The code a PipelineRun built (data-model.md "Code source"): repo_url and commit_sha by their precedence lists,
  the child git-clone TaskRun's `url` / `commit` results as last resort, and commit details from results.
-#}
with pipeline_runs as (
    select cluster, pipeline_run_uid, pac_repo_url, pac_sha
    from {{ ref('stg_tekton__pipeline_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
),

string_values as (
    select cluster, run_uid, run_kind, name, nullif(trim(value_text), '') as value
    from {{ ref('stg_tekton__run_results') }}
    where value_json like '"%'
),

run_results as (
    select
        cluster,
        run_uid,
        max(case when name = 'REPO_URL' then value end) as result_repo_url,
        max(case when name = 'CHAINS-GIT_URL' then value end) as result_chains_git_url,
        max(case when name = 'REPO_COMMIT' then value end) as result_repo_commit,
        max(case when name = 'CHAINS-GIT_COMMIT' then value end) as result_chains_git_commit,
        max(case when name = 'COMMIT_AUTHOR' then value end) as commit_author,
        max(case when name = 'COMMIT_AUTHOR_EMAIL' then value end) as commit_author_email,
        max(case when name = 'COMMIT_MESSAGE' then value end) as commit_message,
        max(case when name = 'COMMIT_TIMESTAMP' then value end) as commit_timestamp,
        max(case when name = 'TRIGGER' then value end) as trigger
    from string_values
    where run_kind = 'PipelineRun' {{ affected_filter('cluster', 'run_uid', 'PipelineRun') }}
        and name in (
            'REPO_URL', 'CHAINS-GIT_URL', 'REPO_COMMIT', 'CHAINS-GIT_COMMIT', 'COMMIT_AUTHOR',
            'COMMIT_AUTHOR_EMAIL', 'COMMIT_MESSAGE', 'COMMIT_TIMESTAMP', 'TRIGGER'
        )
    group by cluster, run_uid
),

param_values as (
    select cluster, run_uid, name, nullif(trim(value_text), '') as value
    from {{ ref('stg_tekton__run_params') }}
    where run_kind = 'PipelineRun' and value_json like '"%' {{ affected_filter('cluster', 'run_uid', 'PipelineRun') }}
),

run_params as (
    select
        cluster,
        run_uid,
        {{ pivot_params(repo_url_param_names(), 'param_url') }},
        {{ pivot_params(commit_param_names(), 'param_commit', is_hex_commit('value')) }}
    from param_values
    where name in ({{ quoted_list(repo_url_param_names() + commit_param_names()) }})
    group by cluster, run_uid
),

child_values as (
    select
        tr.cluster,
        tr.pipeline_run_uid,
        r.name,
        r.value,
        row_number() over (
            partition by tr.cluster, tr.pipeline_run_uid, r.name order by tr.order_at, tr.task_run_uid
        ) as position
    from {{ ref('int_task_runs__linked') }} as tr
    inner join string_values as r
        on r.cluster = tr.cluster
        and r.run_uid = tr.task_run_uid
        and r.run_kind = 'TaskRun'
        and r.name in ('url', 'commit')
    where tr.pipeline_run_uid is not null and r.value is not null {{ affected_filter('tr.cluster', 'tr.pipeline_run_uid', 'PipelineRun') }}
),

child_source as (
    select
        cluster,
        pipeline_run_uid,
        max(case when name = 'url' then value end) as child_url,
        max(case when name = 'commit' then value end) as child_commit
    from child_values
    where position = 1
    group by cluster, pipeline_run_uid
)

select
    pr.cluster,
    pr.pipeline_run_uid,
    {{ normalize_repo_url(
        "coalesce(res.result_repo_url, res.result_chains_git_url, "
        ~ pivoted_params(repo_url_param_names(), 'par', 'param_url')
        ~ ", pr.pac_repo_url, child.child_url)"
    ) }} as repo_url,
    lower(coalesce(
        res.result_repo_commit, res.result_chains_git_commit,
        {{ pivoted_params(commit_param_names(), 'par', 'param_commit') }},
        pr.pac_sha, child.child_commit
    )) as commit_sha,
    {{ to_utc_timestamp('res.commit_timestamp') }} as commit_at,
    res.commit_author,
    res.commit_author_email,
    res.commit_message,
    res.trigger
from pipeline_runs as pr
left join run_results as res
    on res.cluster = pr.cluster and res.run_uid = pr.pipeline_run_uid
left join run_params as par
    on par.cluster = pr.cluster and par.run_uid = pr.pipeline_run_uid
left join child_source as child
    on child.cluster = pr.cluster and child.pipeline_run_uid = pr.pipeline_run_uid
