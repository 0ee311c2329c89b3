"""Maps the `braze_rest_endpoint` setting (a URL or an instance id) to the REST base URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Instance ids from Braze's "API and SDK endpoints" table; EU instances live under .braze.eu.
US_AND_APAC_INSTANCES = (
    *(f"iad-0{n}" for n in range(1, 9)),
    "us-10",
    "au-01",
    "id-01",
    "jp-01",
    "kr-01",
)
EU_INSTANCES = ("fra-01", "fra-02")
_INSTANCE_ID = re.compile(r"^[a-z]{2,3}-\d{2}$")


def braze_base_url(value: str) -> str:
    """The REST base URL for a URL like `https://rest.iad-01.braze.com` or an id like `iad-01`.

    Raises ValueError with a message that names the setting.
    """
    text = value.strip().rstrip("/")
    instance = text.lower()
    if instance in EU_INSTANCES:
        return f"https://rest.{instance}.braze.eu"
    if instance in US_AND_APAC_INSTANCES:
        return f"https://rest.{instance}.braze.com"
    if _INSTANCE_ID.match(instance):
        known = ", ".join((*US_AND_APAC_INSTANCES, *EU_INSTANCES))
        raise ValueError(
            f"braze_rest_endpoint: unknown Braze instance '{text}' (known: {known}); "
            "or give the full URL, e.g. https://rest.iad-01.braze.com"
        )
    raw = value.strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not ("." in host or host == "localhost"):
        raise ValueError(
            f"braze_rest_endpoint: '{text}' is neither a URL like https://rest.iad-01.braze.com "
            "nor an instance id like iad-01"
        )
    if parts.query or parts.fragment:
        raise ValueError("braze_rest_endpoint: give the base URL without a query string")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
