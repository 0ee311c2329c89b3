{#- One row per Braze segment and day: its size, the change from the day before (null when the
    day before is not loaded) and the segment's name (braze_segments' current one, else the one
    the size was synced with). Built empty when the load read no Braze (an App Store-only
    project). -#}
{{ config(materialized='table') }}
{%- set sizes_table = source('tap_segment_analytics', 'braze_segment_sizes') %}
{%- set segments_table = source('tap_segment_analytics', 'braze_segments') %}
with sizes as (
    select null::text as segment_id, null::date as day, null::bigint as size, null::text as name
    where false
{%- if is_built(sizes_table) %}
    union all
    select segment_id, time, size, name from {{ sizes_table }}
{%- endif %}
),

segments as (
    select null::text as id, null::text as name
    where false
{%- if is_built(segments_table) %}
    union all
    select id, name from {{ segments_table }}
{%- endif %}
),

days as (
    select
        sizes.*,
        lag(day) over (partition by segment_id order by day) as day_before,
        lag(size) over (partition by segment_id order by day) as size_day_before
    from sizes
)

select
    days.segment_id,
    days.day,
    coalesce(segments.name, days.name) as segment_name,
    days.size,
    case when days.day_before = days.day - 1 then days.size - days.size_day_before end
        as size_change
from days
left join segments on segments.id = days.segment_id
