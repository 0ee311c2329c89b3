{#- A report rows table's current rows: those of the instance appstore_report_dates names as
    the newest for their app, report, granularity and Date. An upsert replaces the rows a newer
    instance restates but cannot remove the ones it dropped; this join leaves them out. -#}
{% macro current_rows_select(rows_table) %}
select r.*
from {{ source('tap_segment_analytics', rows_table) }} as r
join {{ source('tap_segment_analytics', 'appstore_report_dates') }} as d
  on d.instance_id = r.instance_id and d.date = r.date
{% endmacro %}

{#- A view, made only where the load created its rows table and appstore_report_dates: a report
    no run has read yet (or a Braze-only project) skips its model instead of failing `dbt run`.
    Dropped and created again in one transaction on every run, so that a column target-postgres
    added to the table (or a changed type) reaches the view. -#}
{% materialization current_rows, adapter='postgres' %}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set missing = [] -%}
  {%- for table in [config.require('rows_table'), 'appstore_report_dates'] -%}
    {%- if not is_built(source('tap_segment_analytics', table)) -%}
      {%- do missing.append(table) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ run_hooks(pre_hooks) }}
  {%- if missing %}
    {{ log(this.identifier ~ ": skipped, the load created no " ~ missing | join(" or ") ~ " in " ~ source('tap_segment_analytics', 'appstore_report_dates').schema, info=true) }}
    {%- call statement('main') -%} select 1 {%- endcall -%}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': []}) }}
  {%- endif %}
  {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
  {%- if existing is not none -%}
    {{ adapter.drop_relation(existing) }}
  {%- endif -%}
  {% call statement('main') -%}
    {{ get_create_view_as_sql(target_relation, sql) }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {% do adapter.commit() %}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
