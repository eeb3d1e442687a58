{#-
  The flakiness window, one row: it ends at the newest completed_at in the warehouse (never the wall clock, so the
  same data always gives the same marts) and starts `flaky_window_days` before it.
-#}
with completions as (
    select completed_at from {{ ref('fct_pipeline_runs') }}
    union all
    select completed_at from {{ ref('fct_task_runs') }}
),

newest as (
    select max(completed_at) as window_end from completions
)

select
    {{ dbt.dateadd('day', -1 * (var('flaky_window_days') | int), 'window_end') }} as window_start,
    window_end
from newest
