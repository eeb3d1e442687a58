{#- A view: a filter of the stored int_flaky__task_runs, whose rows the window does not move. -#}
{{ config(materialized='view') }}

{#- TaskRuns of a PipelineRun that count for flakiness: those of int_flaky__task_runs whose order key is inside the
    window. -#}
select task_runs.*
from {{ ref('int_flaky__task_runs') }} as task_runs
cross join {{ ref('int_flaky__window') }} as flaky_window
where task_runs.order_at >= flaky_window.window_start
