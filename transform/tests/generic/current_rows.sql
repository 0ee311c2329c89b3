{#- What the catalogue promises of a report's current rows (generated into
    models/current_rows/schema.yml by current_rows_models.py), in one query, one row per row or
    value that breaks a rule, `rule` naming it:
    - row_key unique and not null (a join that fans out repeats a row key);
    - the Date not null (every row of every report is of a Date);
    - granularity one of the report's documented granularities;
    - one row per key (app, granularity, the report's Date and dimensions, and the columns the
      catalogue does not know; none for the generic table, whose rows' keys the tap makes
      from every column): the same fact twice under two row keys would count twice.
    One test per view, not one per rule: ~150 views, most of them of reports a load never
    reads, and dbt's time goes by node. A view the load made no table for has nothing to test. -#}
{% test current_rows_valid(model, granularities, key_columns=[]) %}
  {%- if is_built(model) -%}
    {%- set keys = [] -%}
    {%- for column in key_columns -%}
      {%- do keys.append(adapter.quote(column)) -%}
    {%- endfor %}
    select 'row_key not unique' as rule, row_key as value, count(*) as rows
    from {{ model }} group by row_key having count(*) > 1
    union all
    select 'row_key null', null, count(*) from {{ model }} where row_key is null having count(*) > 0
    union all
    select 'date null', row_key, 1 from {{ model }} where date is null
    union all
    select 'granularity not one of {{ granularities | join(", ") }}', granularity, count(*)
    from {{ model }}
    where granularity is null or granularity not in ('{{ granularities | join("', '") }}')
    group by granularity
    {%- if keys %}
    union all
    select 'key not unique', min(row_key), count(*)
    from {{ model }} group by {{ keys | join(', ') }} having count(*) > 1
    {%- endif %}
  {%- else -%}
    {{ nothing_to_test() }}
  {%- endif -%}
{% endtest %}
