{#-
  Generic test: the combination of `columns` is unique (a composite key such as (cluster, uid)). On a model an
  incremental build recomputed at the affected runs only, the rows of those runs are checked (keyed_test_scope in
  macros/incremental_runs.sql says why that is the same check).
-#}
{% test unique_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
{{ keyed_test_scope(model, columns) }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
