{#- The run's last step (on-run-end): a schema that holds none of the tap's tables fails `dbt run`
    with one line naming it, instead of skipping every model and passing. It means the load went
    to another schema (target-postgres's is the extractor's load_schema; dbt's is dbt-postgres's
    `schema`: both SEGMENT_ANALYTICS_SCHEMA in meltano.yml's env) or loaded nothing. A project
    of Braze only has its braze_ tables here and passes, with no views to make. The schema
    checked is the sources' (var tap_segment_analytics_schema, by default the target's), as a
    project that installs this one as a package reads the load from another schema. -#}
{% macro require_loaded_tables() %}
  {%- if execute -%}
    {%- set schema = var('tap_segment_analytics_schema', target.schema) -%}
    {%- set names = ['braze_segments'] -%}
    {%- for source in graph.sources.values() if source.source_name == 'tap_segment_analytics' -%}
      {%- do names.append(source.name) -%}
    {%- endfor -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_schema = '"
        ~ schema | replace("'", "''") ~ "' and table_name in ('"
        ~ names | join("', '") ~ "')") -%}
    {%- if found.columns[0].values()[0] == 0 -%}
      {{ exceptions.raise_compiler_error(
          "schema " ~ schema ~ " holds no table of tap-segment-analytics: the load wrote "
          ~ "to another schema (set SEGMENT_ANALYTICS_SCHEMA in meltano.yml's env, which both "
          ~ "target-postgres and dbt read) or loaded nothing") }}
    {%- endif -%}
  {%- endif -%}
{% endmacro %}
