{#- One row per (day, cluster, namespace, pipeline_name) with terminal runs. -#}
select
    day,
    cluster,
    namespace,
    pipeline_name,
    {{ reliability_measures() }}
from {{ ref('int_pipeline_runs__terminal_days') }}
group by day, cluster, namespace, pipeline_name
