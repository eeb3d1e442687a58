{#- Per commit: succeeded runs within runs, signed artifacts within artifacts, failing consumers within consumers. -#}
select repo_url, commit_sha
from {{ ref('fct_supply_chains') }}
where succeeded_runs > runs
    or signed_artifacts > artifacts
    or downstream_failing > downstream_runs
    or runs < 1
    or (artifacts = 0 and (provenance_complete or lead_time_s is not null))
