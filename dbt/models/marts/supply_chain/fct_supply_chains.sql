{#-
  One row per (repo_url, commit_sha) seen on any run (PipelineRun or standalone TaskRun with a known commit):
  how it was built, which artifacts it produced, whether they are signed, and who consumed them downstream.
-#}
with commit_runs as (
    select *
    from {{ ref('int_supply_chain__runs') }}
    where commit_sha is not null
),

commits as (
    select
        repo_url,
        commit_sha,
        min(order_at) as first_run_at,
        count(*) as runs,
        count(case when status = 'succeeded' then 1 end) as succeeded_runs,
        min(commit_at) as commit_at
    from commit_runs
    group by repo_url, commit_sha
),

commit_artifacts as (
    select
        repo_url,
        commit_sha,
        artifact_digest,
        max(case when is_signed then 1 else 0 end) = 1 as is_signed,
        min(produced_at) as first_produced_at
    from {{ ref('fct_artifacts') }}
    where commit_sha is not null
    group by repo_url, commit_sha, artifact_digest
),

artifact_counts as (
    select
        repo_url,
        commit_sha,
        count(*) as artifacts,
        count(case when is_signed then 1 end) as signed_artifacts,
        min(first_produced_at) as first_produced_at
    from commit_artifacts
    group by repo_url, commit_sha
),

downstream as (
    select
        commit_artifacts.repo_url,
        commit_artifacts.commit_sha,
        count(distinct consumptions.cluster || '/' || consumptions.consumer_run_uid) as downstream_runs,
        count(distinct case
            when {{ is_failing_status('consumptions.consumer_status') }}
                then consumptions.cluster || '/' || consumptions.consumer_run_uid
        end) as downstream_failing
    from commit_artifacts
    inner join {{ ref('int_supply_chain__consumptions') }} as consumptions
        on consumptions.artifact_digest = commit_artifacts.artifact_digest
    group by commit_artifacts.repo_url, commit_artifacts.commit_sha
)

select
    commits.repo_url,
    commits.commit_sha,
    commits.first_run_at,
    commits.runs,
    commits.succeeded_runs,
    coalesce(artifact_counts.artifacts, 0) as artifacts,
    coalesce(artifact_counts.signed_artifacts, 0) as signed_artifacts,
    coalesce(downstream.downstream_runs, 0) as downstream_runs,
    coalesce(downstream.downstream_failing, 0) as downstream_failing,
    commits.commit_at,
    {{ seconds_between('commits.commit_at', 'artifact_counts.first_produced_at') }} as lead_time_s,
    coalesce(
        artifact_counts.artifacts > 0
        and artifact_counts.signed_artifacts = artifact_counts.artifacts
        and commits.repo_url is not null,
        false
    ) as provenance_complete,
    artifact_counts.first_produced_at
from commits
left join artifact_counts
    on artifact_counts.repo_url is not distinct from commits.repo_url
    and artifact_counts.commit_sha = commits.commit_sha
left join downstream
    on downstream.repo_url is not distinct from commits.repo_url
    and downstream.commit_sha = commits.commit_sha
