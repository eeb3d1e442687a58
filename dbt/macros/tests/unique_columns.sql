{#- Generic test: the combination of `columns` is unique (a composite key such as (cluster, uid)). -#}
{% test unique_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
