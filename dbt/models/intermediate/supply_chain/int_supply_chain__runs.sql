{{
    config(
        materialized='incremental',
        tags=['incremental_runs'],
        meta={'incremental_runs': {'uid_column': 'run_uid', 'affected': 'runs'}},
    )
}}
/* depends_on: {{ ref('int_build__affected_runs') }} (the pre-hook and the filter read it) */

{#-
  The runs that can produce or consume artifacts as a whole: every PipelineRun, and every standalone TaskRun (a
  TaskRun inside a PipelineRun acts for its PipelineRun). Standalone TaskRuns get their code source from their own
  results and params by the same precedence as PipelineRuns (data-model.md "Code source"), with the git-clone
  `url` / `commit` results last. A row reads its run's own mart row, results and params, so an incremental
  build recomputes the affected runs (a TaskRun that gains or loses its parent is affected itself).
-#}
with standalone_task_runs as (
    select *
    from {{ ref('fct_task_runs') }}
    where pipeline_run_uid is null {{ affected_filter('cluster', 'task_run_uid', 'TaskRun') }}
),

task_results as (
    select results.run_uid, results.cluster, results.name, nullif(trim(results.value_text), '') as value
    from {{ ref('stg_tekton__run_results') }} as results
    inner join standalone_task_runs
        on standalone_task_runs.cluster = results.cluster
        and standalone_task_runs.task_run_uid = results.run_uid
    where results.run_kind = 'TaskRun'
        and results.value_json like '"%'
        and results.name in (
            'REPO_URL', 'CHAINS-GIT_URL', 'url', 'REPO_COMMIT', 'CHAINS-GIT_COMMIT', 'commit', 'COMMIT_TIMESTAMP'
        )
),

task_params as (
    select params.run_uid, params.cluster, params.name, nullif(trim(params.value_text), '') as value
    from {{ ref('stg_tekton__run_params') }} as params
    inner join standalone_task_runs
        on standalone_task_runs.cluster = params.cluster
        and standalone_task_runs.task_run_uid = params.run_uid
    where params.run_kind = 'TaskRun'
        and params.value_json like '"%'
        and params.name in ({{ quoted_list(repo_url_param_names() + commit_param_names()) }})
),

result_source as (
    select
        cluster,
        run_uid,
        max(case when name = 'REPO_URL' then value end) as repo_url_result,
        max(case when name = 'CHAINS-GIT_URL' then value end) as chains_git_url_result,
        max(case when name = 'url' then value end) as clone_url_result,
        max(case when name = 'REPO_COMMIT' then value end) as repo_commit_result,
        max(case when name = 'CHAINS-GIT_COMMIT' then value end) as chains_git_commit_result,
        max(case when name = 'commit' then value end) as clone_commit_result,
        max(case when name = 'COMMIT_TIMESTAMP' then value end) as commit_timestamp
    from task_results
    group by cluster, run_uid
),

param_source as (
    select
        cluster,
        run_uid,
        {{ pivot_params(repo_url_param_names(), 'url_param') }},
        {{ pivot_params(commit_param_names(), 'commit_param', is_hex_commit('value')) }}
    from task_params
    group by cluster, run_uid
),

standalone_runs as (
    select
        task_runs.cluster,
        task_runs.task_run_uid as run_uid,
        'TaskRun' as run_kind,
        task_runs.namespace,
        task_runs.pipeline_name,
        task_runs.status,
        task_runs.created_at,
        task_runs.order_at,
        task_runs.completed_at,
        task_runs.is_signed,
        {{ normalize_repo_url(
            "coalesce(res.repo_url_result, res.chains_git_url_result, "
            ~ pivoted_params(repo_url_param_names(), 'par', 'url_param')
            ~ ", res.clone_url_result)"
        ) }} as repo_url,
        lower(coalesce(
            res.repo_commit_result, res.chains_git_commit_result,
            {{ pivoted_params(commit_param_names(), 'par', 'commit_param') }},
            res.clone_commit_result
        )) as commit_sha,
        {{ to_utc_timestamp('res.commit_timestamp') }} as commit_at
    from standalone_task_runs as task_runs
    left join result_source as res
        on res.cluster = task_runs.cluster and res.run_uid = task_runs.task_run_uid
    left join param_source as par
        on par.cluster = task_runs.cluster and par.run_uid = task_runs.task_run_uid
),

pipeline_runs as (
    select
        cluster,
        pipeline_run_uid as run_uid,
        'PipelineRun' as run_kind,
        namespace,
        pipeline_name,
        status,
        created_at,
        order_at,
        completed_at,
        is_signed,
        repo_url,
        commit_sha,
        commit_at
    from {{ ref('fct_pipeline_runs') }}
    where true {{ affected_filter('cluster', 'pipeline_run_uid', 'PipelineRun') }}
)

select * from pipeline_runs
union all
select * from standalone_runs
