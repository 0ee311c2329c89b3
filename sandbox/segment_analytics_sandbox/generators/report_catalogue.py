"""How `report_catalogue.json` and the report rows' schemas are made (run it to refresh them).

The source is Apple's Analytics Reports documentation, one page per report, transcribed field by
field into a JSON file kept in the repository (`sandbox/apple-reports/catalogue.json`, with where
and when it was read in the README beside it). To that this module adds what is ours to
decide, in the constants below:

- the API's report names (a page's title is not always the API's name) and their aliases;
- each field's role, by its meaning: a measure (a number summed or averaged over the row's
  events), an identifier (an Apple id: text, in the key) or a dimension (in the key);
- the Singer type (measures are integers or numbers; dimensions and identifiers are text as
  Apple writes them, dates `YYYY-MM-DD`), and the completeness lag in days parsed from the page;
- our own short description of each distinct field name;
- the names live files give documented columns (`header_aliases.json`, beside this module: an
  observation of real files, not of the pages, so kept apart from the transcription).

Refresh, after Apple's pages change and the transcription is updated:

    .venv/bin/python -m segment_analytics_sandbox.generators.report_catalogue [CATALOGUE_JSON]

(the repository's transcription when no file is named).

It writes into the checkout of the tap it imports (an editable install). The tap reads only the
packaged `report_catalogue.json`, never the source file, and not this module: it ships in the
sandbox distribution, not the tap's wheel.
tests/test_report_catalogue.py fails while the packaged file or a schema differs from what this
module makes of the source.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from tap_segment_analytics.appstore.reports import CATALOGUE_FILE, NOT_KEY_COLUMNS

# Live files' names of documented columns, by page title (see the file's "about").
HEADER_ALIASES_FILE = Path(__file__).with_name("header_aliases.json")
# The checkout's top-level schemas/ (the wheel ships it inside the package).
SCHEMAS = CATALOGUE_FILE.parents[2] / "schemas"
COMMAND = "python -m segment_analytics_sandbox.generators.report_catalogue"
# The transcription of Apple's pages, in the checkout (sandbox/apple-reports/).
SOURCE = CATALOGUE_FILE.parents[2] / "sandbox" / "apple-reports" / "catalogue.json"

# Apple's category titles → the API's `category` values.
CATEGORIES = {
    "App Store Engagement": "APP_STORE_ENGAGEMENT",
    "App Store Commerce": "COMMERCE",
    "App Usage": "APP_USAGE",
    "Framework Usage": "FRAMEWORK_USAGE",
    "Performance": "PERFORMANCE",
}
GRANULARITIES = {"Daily": "DAILY", "Weekly": "WEEKLY", "Monthly": "MONTHLY"}
# Pages that list no granularity (six Performance reports): Apple's default instance is daily.
DEFAULT_GRANULARITIES = ["DAILY"]

# Page title → the API's report name (before " Standard"/" Detailed"), where they differ; the
# page's title stays an alias. api-notes: the API returns `App Downloads Standard`, and code of
# 2026 asks for `App Store Downloads Standard`: both are one report.
API_NAMES = {
    "App Store Downloads": "App Downloads",
    "App Store Installations and Deletions": "App Store Installation and Deletion",
    # The page's qualifier is not part of the name (and its stream name would be longer than
    # PostgreSQL's 63-character identifiers).
    "Browser Choice Screen Engagement (iOS versions before 18.2)": (
        "Browser Choice Screen Engagement"
    ),
}
# PostgreSQL's identifiers (target-postgres's table names) are at most 63 characters.
MAX_STREAM_NAME = 63

# The event-count shape of ~115 Framework Usage and Performance reports: `Count` events with
# these attribute values, seen on `Unique Devices` devices. Every other field of such a report
# describes the events counted (Apple buckets durations and sizes), so it is a dimension.
EVENT_COUNT_MEASURES = frozenset({"Count", "Unique Devices"})

# Measures of the reports without `Count`: totals, averages, rates and distributions of the row.
MEASURES = frozenset(
    {
        "Counts", "Unique Counts", "Unique Devices", "Sessions", "Total Session Duration",
        "Crashes", "Purchases", "Proceeds in USD", "Sales in USD", "Paying Users",
        "Pre-Orders Placed", "Pre-Orders Canceled", "Downloading Users", "Users Opting-In",
        "Installs", "Avg Install Duration", "Error Count", "Error Percentage",
        "Average Video Start Up Time", "Average Activate to Start Time",
        "Average AirPlay Session Duration", "Selection Rate", "New Install Rate",
        "Existing Install Rate", "Product Page Conversion Rate", "Informed Selection Rate",
        "Direct Selection Rate", "Discovery Errors", "Activation Errors", "Playback Errors",
        "Playback Realtime Errors", "Discovery Sessions", "Discovered Devices",
        "Device Discovery Time", "Activation Events", "PIN Authorization Events",
        "Password Authorization Events", "Activation Time", "Playback Requests",
        "AppLaunch Playback Requests", "URL Playback Requests", "Activate to Playback Start Time",
        "Playback Startup Time", "Playback Duration", "Realtime Requests",
        "Audio Realtime Requests", "Audio and Video Realtime Requests",
        "Activate to Realtime Start Time", "Realtime Startup Time", "Good Realtime Sessions",
        "Bad Realtime Sessions", "Download Count", "Download Speed Distribution",
        "Downloaded Bytes Distribution", "Download Error Rate", "Session Count",
        "Average Stall Rate", "Total Play Time", "Indicated Bit Rate Distribution",
        "Observed Bit Rate Distribution", "Startup Time Distribution", "Total Stalls Distribution",
        "Switch Count Distribution", "Network Error Rate", "Playback Error Rate",
    }
)  # fmt: skip
# Numeric fields of those reports that are dimensions: codes that group the row.
NUMERIC_DIMENSIONS = frozenset({"Error Code"})
IDENTIFIER = re.compile(r"(Identifier|\bID|UUID)$")
DATE_COLUMNS = ("Date", "Event Date", "Install Day")  # the first a report has is its Date

NUMBER_TYPES = {"integer": "integer", "long": "integer", "float": "number"}

# Our words for the fields most reports share; any other field is described by its role.
DESCRIPTIONS = {
    "Date": "Day of the row (first day of the period for WEEKLY and MONTHLY).",
    "Event Date": "Day the subscription event happened: this report's Date.",
    "Install Day": "Day of the install: this report's Date.",
    "App Name": "The app's name when the file was made (not part of the row key).",
    "App Apple Identifier": "The app's Apple id.",
    "App Version": "Version of the app.",
    "Build": "Build of the app or system on the device.",
    "Build Type": "Kind of build (for example release or beta).",
    "Release Type": "Kind of software release on the device.",
    "Territory": "Country or region, as a two-letter code.",
    "Device": "Kind of device (iPhone, iPad, Mac, ...).",
    "Platform": "Operating system and version on the device.",
    "Platform Version": "Operating system and version on the device.",
    "Count": "Events counted in the row.",
    "Counts": "Events counted in the row.",
    "Unique Counts": "Distinct users or devices behind the row's events.",
    "Unique Devices": "Distinct devices behind the row's events.",
    "Sessions": "App sessions counted in the row.",
    "Total Session Duration": "Seconds of all of the row's sessions together.",
    "Crashes": "Crashes counted in the row.",
    "Purchases": "Purchases counted in the row.",
    "Proceeds in USD": "What the developer receives for the row's purchases, in US dollars.",
    "Sales in USD": "What customers paid for the row's purchases, in US dollars.",
    "Paying Users": "Distinct users who paid.",
    "Source Type": "How people came to the App Store page (search, browse, referrer, ...).",
    "Source Info": "Which referrer, for web and app referrers.",
    "Campaign": "The campaign token of a campaign link, if any.",
    "Page Type": "Kind of App Store page (product page, custom page, in-app event, ...).",
    "Page Title": "Name of the App Store page (custom product pages).",
    "Pre-Order": "Whether the download came from a pre-order.",
    "Download Type": "First download, redownload, update, ...",
    "App Download Date": "Day the app was downloaded, when within the last 30 days; else empty.",
    "Event": "What happened (impression, page view, install, delete, ...).",
    "Engagement Type": "The kind of engagement, where the event has one.",
    "Content Name": "The in-app purchase or app bought.",
    "Content Apple Identifier": "Apple id of the in-app purchase or app bought.",
    "Purchase Type": "Kind of purchase (app, in-app purchase, subscription, ...).",
    "Payment Method": "How the purchase was paid.",
    "Subscription Identifier": "Apple id of the subscription.",
    "Subscription Group Identifier": "Apple id of the subscription group.",
    "Subscription Name": "Name of the subscription.",
    "Duration": "Duration of the event (Apple's bucket).",
    "Result": "Outcome code of the operation.",
    "Interface Type": "Network interface used (Wi-Fi, cellular, ...).",
    "Session Count": "Sessions counted in the row.",
    "Event Type": "Kind of event.",
}
ROLE_DESCRIPTIONS = {
    "measure": "Measure '{}' of the report (a number over the row's events).",
    "dimension": "Dimension '{}' of the report (part of the row key), as Apple writes it.",
    "identifier": "Identifier '{}' (an Apple id, part of the row key), as text.",
}

# Every row stream's lineage columns (the same for every report).
LINEAGE_PROPERTIES: dict[str, Any] = {
    "row_key": {
        "type": "string",
        "description": "SHA-256 of app, report, granularity, Date and the report's dimensions: "
        "a restated day upserts over older rows.",
    },
    "app_id": {"type": "string"},
    "report_id": {"type": "string"},
    "granularity": {"type": "string"},
    "processing_date": {
        "type": "string",
        "format": "date",
        "description": "Processing date of the report instance the row came from.",
    },
    "instance_id": {"type": "string"},
    "segment_id": {"type": "string"},
}
EXTRA_COLUMNS = {
    "type": ["object", "null"],
    "description": "Columns the catalogue does not know for this report, by snake-case name, "
    "as text.",
    "additionalProperties": {"type": ["string", "null"]},
}


def snake_case(name: str) -> str:
    """`App Apple Identifier` → `app_apple_identifier`, `Pre-Order` → `pre_order`."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def lag_days(completeness: str | None) -> int | None:
    """Days after a Date until Apple's data of it is complete, from the page's words; None
    when the page gives no bound."""
    if not completeness:
        return None
    if completeness.startswith("Same day"):
        return 0
    words = {"two": 2, "three": 3, "four": 4, "five": 5, "eight": 8}
    match = re.search(r"(?:Within|as late as) (\w+) days?", completeness)
    if match is None:
        return None
    amount = match.group(1)
    return int(amount) if amount.isdigit() else words[amount]


def role_of(field: dict[str, Any], *, event_counts: bool) -> str:
    """measure, identifier or dimension, by the field's meaning (see the constants above)."""
    name = field["name"]
    if name in (EVENT_COUNT_MEASURES if event_counts else MEASURES):
        return "measure"
    if IDENTIFIER.search(name) and field["type"] != "boolean":
        return "identifier"
    numeric = field["type"] in (*NUMBER_TYPES, "list of float")
    if numeric and not event_counts and name not in NUMERIC_DIMENSIONS:
        raise ValueError(f"decide the role of numeric field '{name}': add it to a constant")
    return "dimension"


def singer_type(field: dict[str, Any], role: str, date_column: str) -> str:
    """integer or number for measures, date for dates, else string."""
    if role == "measure":
        return NUMBER_TYPES.get(field["type"], "string")
    if field["type"] == "date" or field["name"] == date_column:
        return "date"
    return "string"


def header_aliases() -> dict[str, dict[str, str]]:
    """Live files' names of documented columns: page title → {alias: documented name}."""
    document = json.loads(HEADER_ALIASES_FILE.read_text(encoding="utf-8"))
    return {title: entry["aliases"] for title, entry in document["reports"].items()}


def report_entries(
    page: dict[str, Any], live_names: dict[str, dict[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The catalogue's reports of one documentation page: one per variant (`live_names`: header
    aliases by page title)."""
    title = page["title"]
    base = API_NAMES.get(title, title)
    variants = page["variants"] or [None]
    names = {f["name"] for f in page["fields"]}
    date_column = next((c for c in DATE_COLUMNS if c in names), None)
    if date_column is None:
        raise ValueError(f"report '{title}' has no Date column")
    event_counts = "Count" in names
    entries = []
    for variant in variants:
        name = f"{base} {variant}" if variant else base
        aliases = [f"{title} {variant}" if variant else title] if base != title else []
        fields = []
        for field in page["fields"]:
            # A field of the report's Date is in every variant (the Standard Web Preview page
            # leaves it unmarked).
            present = field[variant.lower()] if variant else None
            if present is False and field["name"] != date_column:
                continue
            role = role_of(field, event_counts=event_counts)
            fields.append(
                {
                    "name": field["name"],
                    "type": singer_type(field, role, date_column),
                    "role": role,
                    "key": role != "measure" and field["name"] not in NOT_KEY_COLUMNS,
                }
            )
        stream = f"appstore_{snake_case(name)}"
        if len(stream) > MAX_STREAM_NAME:
            raise ValueError(f"stream name {stream} is longer than {MAX_STREAM_NAME} characters")
        columns = [snake_case(f["name"]) for f in fields]
        clash = set(columns) & {*LINEAGE_PROPERTIES, "extra_columns"}
        if len(set(columns)) != len(columns) or clash:
            raise ValueError(f"report '{name}': two fields share a column name {clash or ''}")
        header = dict((live_names or {}).get(title, {}))
        documented = {f["name"] for f in fields}
        strays = {a: n for a, n in header.items() if n not in documented or a in documented}
        if strays:
            raise ValueError(f"report '{name}': aliases of no documented field {strays}")
        entries.append(
            {
                "name": name,
                "aliases": aliases,
                "stream": stream,
                "title": title,
                "page": page["page"],
                "category": CATEGORIES[page["category"]],
                "variant": variant,
                "granularities": [GRANULARITIES[g] for g in page["granularities"]]
                or DEFAULT_GRANULARITIES,
                "completeness_lag_days": lag_days(page.get("completeness")),
                "date_column": date_column,
                "fields": fields,
                "header_aliases": header,
            }
        )
    return entries


def build(source: list[dict[str, Any]]) -> dict[str, Any]:
    """The packaged catalogue made from the transcription of Apple's pages."""
    live_names = header_aliases()
    unknown = set(live_names) - {page["title"] for page in source}
    if unknown:
        raise ValueError(f"{HEADER_ALIASES_FILE.name}: no page titled {sorted(unknown)}")
    reports = [entry for page in source for entry in report_entries(page, live_names)]
    reports.sort(key=lambda r: r["name"])
    descriptions: dict[str, str] = {}
    for report in reports:
        for field in report["fields"]:
            descriptions.setdefault(
                field["name"],
                DESCRIPTIONS.get(field["name"])
                or ROLE_DESCRIPTIONS[field["role"]].format(field["name"]),
            )
    return {
        "about": "Apple's analytics reports, made by sandbox/segment_analytics_sandbox/"
        "generators/report_catalogue.py from Apple's documentation pages (read 2026-12-02); "
        "run it to refresh this file and the schemas.",
        "descriptions": dict(sorted(descriptions.items())),
        "reports": reports,
    }


def schema_of(report: dict[str, Any], descriptions: dict[str, str]) -> dict[str, Any]:
    """The JSON Schema of a report's rows stream."""
    properties: dict[str, Any] = {}
    for field in report["fields"]:
        prop: dict[str, Any] = {"type": ["string" if field["type"] == "date" else field["type"],
                                         "null"]}  # fmt: skip
        if field["type"] == "date":
            prop["format"] = "date"
        prop["description"] = descriptions[field["name"]]
        properties[snake_case(field["name"])] = prop
    if report["date_column"] != "Date":
        properties["date"] = {
            "type": ["string", "null"],
            "format": "date",
            "description": f"The row's '{report['date_column']}', as every report's `date`.",
        }
    return {
        "type": "object",
        "description": f"Rows of the '{report['name']}' analytics report ({report['category']}).",
        "properties": {**properties, **LINEAGE_PROPERTIES, "extra_columns": EXTRA_COLUMNS},
        "required": ["row_key"],
    }


def dumps(document: Any) -> str:
    """How the generated files are written."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated_files(source: list[dict[str, Any]], schemas: Path) -> dict[Path, str]:
    """Every file this module makes: the catalogue and one schema per report stream."""
    catalogue = build(source)
    files = {CATALOGUE_FILE: dumps(catalogue)}
    for report in catalogue["reports"]:
        schema = schema_of(report, catalogue["descriptions"])
        files[schemas / f"{report['stream']}.json"] = dumps(schema)
    return files


def main(argv: list[str]) -> int:
    """Write the catalogue and the schemas from the source file named in argv (else SOURCE)."""
    if len(argv) > 1 or argv[:1] in (["-h"], ["--help"]):
        print(f"usage: {COMMAND} [CATALOGUE_JSON]  (default: {SOURCE})")
        return 2
    if not SCHEMAS.is_dir():
        print(f"{SCHEMAS} is missing: install the tap from a checkout (pip install -e)")
        return 2
    source = json.loads(Path(argv[0] if argv else SOURCE).read_text(encoding="utf-8"))
    for path, text in generated_files(source, SCHEMAS).items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
