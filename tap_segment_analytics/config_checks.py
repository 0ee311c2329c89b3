"""Settings that pass the JSON Schema yet would fail later or silently read nothing: one message
each, naming the setting."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

# `filter[category]` values of GET /v1/analyticsReportRequests/{id}/reports (api-notes).
REPORT_CATEGORIES = (
    "APP_USAGE",
    "APP_STORE_ENGAGEMENT",
    "COMMERCE",
    "FRAMEWORK_USAGE",
    "PERFORMANCE",
)
_LOOPBACK_NAMES = ("localhost",)
# The SDK's BATCH settings without which its batcher fails mid-run.
_BATCH_REQUIRED = (("encoding", "format"), ("storage", "root"))


def start_date_errors(value: Any, today: date) -> list[str]:
    """`start_date` must be a date (or an ISO date-time) that is not in the future."""
    text = str(value)
    try:
        first = date.fromisoformat(text[:10])
        if len(text) > len("YYYY-MM-DD"):
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return [f"start_date: '{text}' is not a date like 2026-01-31"]
    if first > today:
        return [f"start_date: {first} is in the future (today is {today} UTC): nothing to read"]
    return []


def utc_today() -> date:
    """Today in UTC, the day the tap's windows are planned from."""
    return datetime.now(timezone.utc).date()


def cleartext_errors(setting: str, url: str) -> list[str]:
    """An `http://` URL to anything but this machine would send the credentials in clear."""
    parts = urlsplit(url)
    if parts.scheme != "http" or _is_loopback(parts.hostname or ""):
        return []
    return [
        f"{setting}: '{parts.scheme}://{parts.netloc}' is plain http to another host, which "
        "would send the credentials in clear; use https:// (http:// is for localhost only)"
    ]


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def category_errors(categories: Iterable[str] | None) -> list[str]:
    """Categories the API does not know (their reports would silently never be read)."""
    unknown = sorted(set(categories or []) - set(REPORT_CATEGORIES))
    if not unknown:
        return []
    return [f"appstore_report_categories: {unknown} not among {list(REPORT_CATEGORIES)}"]


def has_value(setting: Any) -> bool:
    """Whether an object setting holds any value that is not null (at any depth)."""
    if isinstance(setting, Mapping):
        return any(has_value(value) for value in setting.values())
    return setting is not None


def batch_config_errors(batch_config: Any) -> list[str]:
    """The parts of `batch_config` the SDK's batcher needs."""
    if batch_config is None:
        return []
    missing = [
        f"{part}.{key}"
        for part, key in _BATCH_REQUIRED
        if not isinstance(batch_config, Mapping)
        or not isinstance(batch_config.get(part), Mapping)
        or not batch_config[part].get(key)
    ]
    return [f"batch_config needs {' and '.join(missing)}"] if missing else []


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """Settings the tap does not know (a typo is otherwise silently ignored)."""
    return sorted(set(config) - set(known))


def integer_env_errors(schema: Mapping[str, Any], prefix: str) -> list[str]:
    """Environment variables of `integer` settings that do not hold an integer (the SDK would
    stop with a traceback)."""
    errors = []
    for name, setting in schema.get("properties", {}).items():
        variable = prefix + name.upper().replace("-", "_")
        types = setting.get("type", [])
        integer = "integer" in ([types] if isinstance(types, str) else types)
        if not integer or variable not in os.environ:
            continue
        text = os.environ[variable]
        try:
            int(text)
        except ValueError:
            errors.append(f"{variable}: '{text}' is not an integer ({name})")
    return errors
