{#-
  Generic test of a model's key: the combination of `columns` is unique (a composite key such as (cluster, uid)),
  and each of the `not_null` columns (key columns that must be set) is never null. One test node per key instead
  of one per rule: every dbt test node costs the build a compile, a connection and a transaction whatever its
  data. Each failing row names the rule it breaks (`broken_rule`: "<column> is null" with the count of such rows,
  or "duplicate (<columns>)" with the key and its number of rows), so a failure still says which rule broke.

  On a model an incremental build recomputed at the affected runs only, the uniqueness check reads the rows of
  those runs (keyed_test_scope in macros/incremental_runs.sql says why that is the same check). The null checks
  always read the whole table: a row with a null key column matches no affected run, so scoping would skip it.
-#}
{% test unique_columns(model, columns, not_null=[]) %}
{%- if not_null %}
with null_counts as (
    select
    {%- for column in not_null %}
        count_if({{ column }} is null) as "{{ column }} is null"{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

null_rules as (
    unpivot null_counts on columns(*) into name broken_rule value occurrences
)

select broken_rule, occurrences{% for key_column in columns %}, null as {{ key_column }}{% endfor %}
from null_rules
where occurrences > 0
union all
{% endif -%}
select
    'duplicate ({{ columns | join(', ') }})' as broken_rule,
    count(*) as occurrences{% for key_column in columns %},
    {{ key_column }}{% endfor %}
from {{ model }}
{{ keyed_test_scope(model, columns) }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
