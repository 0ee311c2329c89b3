{#- One row per value of `columns` (nulls are one value, as in group by), on a relation that
    may not exist (a source table of a source the load did not read): there it has nothing to
    test and passes. -#}
{% test one_row_per(model, columns) %}
  {%- if is_built(model) -%}
    {%- set quoted = [] -%}
    {%- for column in columns -%}
      {%- do quoted.append(adapter.quote(column)) -%}
    {%- endfor %}
    select {{ quoted | join(', ') }}, count(*) as rows
    from {{ model }}
    group by {{ quoted | join(', ') }}
    having count(*) > 1
  {%- else -%}
    {{ nothing_to_test() }}
  {%- endif -%}
{% endtest %}
