{#- One row per UTC day over all clusters, with the SLO and how fast the error budget burns. -#}
with daily as (
    select
        day,
        {{ reliability_measures() }}
    from {{ ref('int_pipeline_runs__terminal_days') }}
    group by day
)

select
    *,
    cast({{ var('slo_success_rate') }} as double) as slo_target,
    (1 - success_rate) / nullif(1 - cast({{ var('slo_success_rate') }} as double), 0) as error_budget_burn
from daily
