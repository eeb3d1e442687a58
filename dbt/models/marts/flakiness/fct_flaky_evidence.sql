{#-
  One row per (failing run, kind) that shows flakiness inside the window (data-model.md "Flakiness"):
  same_commit at pipeline and task level, rerun_pass (pipeline level), retry_pass (task level).
-#}
with pipeline_runs as (
    select * from {{ ref('int_flaky__counted_pipeline_runs') }}
),

task_runs as (
    select * from {{ ref('int_flaky__counted_task_runs') }}
),

{#- The (pipeline, commit) groups with a failing run: only their first passes are looked for. Most commits are built
    once, so ranking the passes of these groups instead of every passing run of the window is several times
    cheaper (the TaskRuns' ranking: 0.66 → 0.11 s at 1M). -#}
failing_pipeline_groups as (
    select distinct cluster, namespace, pipeline_name, repo_url, commit_sha
    from pipeline_runs
    where is_failing and commit_sha is not null
),

{#- The first succeeded run of each such group by order key; its existence makes the group mixed. -#}
pipeline_first_passes as (
    select
        passing.cluster,
        passing.namespace,
        passing.pipeline_name,
        passing.repo_url,
        passing.commit_sha,
        passing.pipeline_run_uid as passing_uid,
        passing.completed_at as passed_at,
        row_number() over (
            partition by
                passing.cluster, passing.namespace, passing.pipeline_name, passing.repo_url, passing.commit_sha
            order by passing.order_at, passing.pipeline_run_uid
        ) as pass_rank
    from pipeline_runs as passing
    semi join failing_pipeline_groups as groups
        on {{ same_commit_group('groups', 'passing', 'pipeline') }}
    where passing.status = 'succeeded'
),

pipeline_same_commit as (
    select
        failing.cluster,
        failing.namespace,
        failing.pipeline_name,
        cast(null as varchar) as pipeline_task,
        failing.pipeline_run_uid as failed_uid,
        passes.passing_uid,
        failing.repo_url,
        failing.commit_sha,
        'same_commit' as kind,
        failing.completed_at as failed_at,
        passes.passed_at
    from pipeline_runs as failing
    inner join pipeline_first_passes as passes
        on passes.pass_rank = 1
        and {{ same_commit_group('passes', 'failing', 'pipeline') }}
    where failing.is_failing and failing.commit_sha is not null
),

{#- A failing run retried by hand that then passed; several passing reruns give one row (the first). -#}
reruns as (
    select
        original.cluster,
        original.namespace,
        original.pipeline_name,
        cast(null as varchar) as pipeline_task,
        original.pipeline_run_uid as failed_uid,
        rerun.pipeline_run_uid as passing_uid,
        original.repo_url,
        original.commit_sha,
        'rerun_pass' as kind,
        original.completed_at as failed_at,
        rerun.completed_at as passed_at,
        row_number() over (
            partition by original.cluster, original.pipeline_run_uid
            order by rerun.order_at, rerun.pipeline_run_uid
        ) as rerun_rank
    from pipeline_runs as rerun
    inner join pipeline_runs as original
        on original.cluster = rerun.cluster
        and original.pipeline_run_uid = rerun.rerun_of_uid
    where rerun.status = 'succeeded'
        and original.is_failing
        and not coalesce(original.commit_sha <> rerun.commit_sha, false)
),

rerun_pass as (
    select * exclude (rerun_rank) from reruns where rerun_rank = 1
),

failing_task_groups as (
    select distinct cluster, namespace, pipeline_name, pipeline_task, repo_url, commit_sha
    from task_runs
    where is_failing and commit_sha is not null
),

task_first_passes as (
    select
        passing.cluster,
        passing.namespace,
        passing.pipeline_name,
        passing.pipeline_task,
        passing.repo_url,
        passing.commit_sha,
        passing.task_run_uid as passing_uid,
        passing.completed_at as passed_at,
        row_number() over (
            partition by
                passing.cluster, passing.namespace, passing.pipeline_name, passing.pipeline_task, passing.repo_url,
                passing.commit_sha
            order by passing.order_at, passing.task_run_uid
        ) as pass_rank
    from task_runs as passing
    semi join failing_task_groups as groups
        on {{ same_commit_group('groups', 'passing', 'task') }}
    where passing.status = 'succeeded'
),

task_same_commit as (
    select
        failing.cluster,
        failing.namespace,
        failing.pipeline_name,
        failing.pipeline_task,
        failing.task_run_uid as failed_uid,
        passes.passing_uid,
        failing.repo_url,
        failing.commit_sha,
        'same_commit' as kind,
        failing.completed_at as failed_at,
        passes.passed_at
    from task_runs as failing
    inner join task_first_passes as passes
        on passes.pass_rank = 1
        and {{ same_commit_group('passes', 'failing', 'task') }}
    where failing.is_failing and failing.commit_sha is not null
),

{#- A TaskRun that failed at least one attempt and then succeeded is its own evidence. -#}
retry_pass as (
    select
        cluster,
        namespace,
        pipeline_name,
        pipeline_task,
        task_run_uid as failed_uid,
        task_run_uid as passing_uid,
        repo_url,
        commit_sha,
        'retry_pass' as kind,
        completed_at as failed_at,
        completed_at as passed_at
    from task_runs
    where status = 'succeeded' and failed_attempts >= 1
),

evidence as (
    select * from pipeline_same_commit
    union all
    select * from rerun_pass
    union all
    select * from task_same_commit
    union all
    select * from retry_pass
)

select
    cluster,
    namespace,
    pipeline_name,
    pipeline_task,
    failed_uid,
    passing_uid,
    commit_sha,
    kind,
    case when pipeline_task is null then 'pipeline' else 'task' end as level,
    repo_url,
    failed_at,
    passed_at
from evidence
