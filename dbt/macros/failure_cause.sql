{#-
  The cause of a failing run (data-model.md "fct_failures"): the first of nine rules that matches, in this order.
  Step signals are booleans aggregated from the run's steps (false for a PipelineRun's own cause, which has none).
  LIKE is case-sensitive, as the spec's reason names and the lower-case `evicted` are meant literally.
-#}
{% macro failure_cause(reason, message, has_oom_step, has_image_pull_wait, has_failed_step) -%}
    case
        when {{ reason }} in ('PipelineRunTimeout', 'TaskRunTimeout') then 'timeout'
        when {{ has_oom_step }} then 'oom'
        when {{ reason }} like '%ImagePull%' or {{ reason }} like '%PullImage%' or {{ has_image_pull_wait }}
            then 'image_pull'
        when {{ reason }} in ('ExceededResourceQuota', 'ExceededNodeResources') then 'quota'
        when {{ reason }} like 'CouldntGet%' or {{ reason }} like '%ResolutionFailed%' then 'resolution'
        when {{ reason }} like '%Validation%'
            or {{ reason }} like '%Invalid%'
            or {{ reason }} like '%Missing%'
            or {{ reason }} like '%Mismatch%'
            or {{ reason }} = 'ResourceVerificationFailed'
            then 'validation'
        when {{ reason }} in ('PodCreationFailed', 'PodAdmissionFailed', 'CreateContainerConfigError')
            or {{ message }} like '%evicted%'
            then 'pod_failure'
        when {{ has_failed_step }} then 'step_error'
        else 'unknown'
    end
{%- endmacro %}

{#- Step waiting reasons that mean the image could not be pulled. -#}
{% macro image_pull_waiting_reasons() -%}
    ('ImagePullBackOff', 'ErrImagePull', 'InvalidImageName')
{%- endmacro %}
