{#-
  Artifact digests and URIs (data-model.md "Supply chain"), plus the list helper the flakiness marts use.
  Engine-specific regex and list functions stay in macros so the models port to another adapter.
-#}

{#-
  An `alg:hex` digest: OCI algorithm grammar, at least 32 hex digits (md5 and up). The same minimum is used when
  digests are searched for in free text, so anything accepted here can also be found as consumed.
-#}
{% macro digest_pattern() -%}
    '[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-f]{32,}'
{%- endmacro %}

{#- The digest as `alg:hex` in lower case, or null when the text is not a digest. -#}
{% macro normalize_digest(text) -%}
    case
        when regexp_full_match(lower(trim({{ text }})), {{ digest_pattern() }}) then lower(trim({{ text }}))
    end
{%- endmacro %}

{#- The hex part of a normalised digest: the equi-join key between produced digests and digests found in text. -#}
{% macro digest_hex(digest) -%}
    split_part({{ digest }}, ':', 2)
{%- endmacro %}

{#-
  Every `alg:hex` token in the text (lower-cased), for matching against produced digests by their hex part.
  Extracting tokens first turns "does this value contain that digest" into an equi-join, not a cross join.
-#}
{% macro digest_tokens(text) -%}
    regexp_extract_all(lower({{ text }}), {{ digest_pattern() }})
{%- endmacro %}

{#-
  An artifact URI without its digest (`@...` after the last `/`) or tag (`:...` after the last `/`):
  `reg:5000/org/img:v1@sha256:..` -> `reg:5000/org/img`. Empty text is null.
-#}
{% macro artifact_base_uri(text) -%}
    nullif(regexp_replace(regexp_replace(trim({{ text }}), '@[^@/]*$', ''), ':[^:/@]*$', ''), '')
{%- endmacro %}

{#- The strings of a JSON array value, or the value itself split on commas and newlines (Chains' IMAGES). -#}
{% macro split_image_list(value_json, value_text) -%}
    case
        when json_type({{ value_json }}) = 'ARRAY' then cast(json_extract_string({{ value_json }}, '$[*]') as varchar[])
        else regexp_split_to_array({{ value_text }}, '[,\n]')
    end
{%- endmacro %}

{#- The objects of a JSON value that is one object or an array of objects (Chains' *ARTIFACT_OUTPUTS). -#}
{% macro json_objects(value_json) -%}
    case json_type({{ value_json }})
        when 'OBJECT' then [cast({{ value_json }} as json)]
        when 'ARRAY' then cast(cast({{ value_json }} as json) as json[])
    end
{%- endmacro %}

{#- Sorted distinct varchar[] aggregate; an empty list when nothing matched. -#}
{% macro sorted_distinct_list_agg(column) -%}
    coalesce(list_sort(list(distinct {{ column }}) filter (where {{ column }} is not null)), []::varchar[])
{%- endmacro %}
