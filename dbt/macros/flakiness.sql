{#-
  Join conditions for "the same (pipeline, commit) group" of flakiness evidence (data-model.md "Flakiness")
  between two aliases: same cluster, namespace and pipeline (and pipeline task at the 'task' level), same repo_url
  (unknown on both sides counts as the same) and same commit. One definition for the evidence join and for the
  groups whose passes are ranked, so the two cannot drift apart.
-#}
{% macro same_commit_group(left, right, level) -%}
    {{ left }}.cluster = {{ right }}.cluster
        and {{ left }}.namespace = {{ right }}.namespace
    {%- if level == 'task' %}
        and {{ left }}.pipeline_name is not distinct from {{ right }}.pipeline_name
        and {{ left }}.pipeline_task = {{ right }}.pipeline_task
    {%- else %}
        and {{ left }}.pipeline_name = {{ right }}.pipeline_name
    {%- endif %}
        and {{ left }}.repo_url is not distinct from {{ right }}.repo_url
        and {{ left }}.commit_sha = {{ right }}.commit_sha
{%- endmacro %}
