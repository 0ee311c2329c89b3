"""Settings that arrive as text where the config schema wants a number.

Meltano passes a setting given in an environment variable or with `meltano config set` to the
tap as text unless its kind casts it, and its `decimal` kind cannot be used: Meltano 4.4.1 turns
the text into a Decimal that it then fails to write into the tap's config ("Object of type
Decimal is not JSON serializable"). So the plugin definition declares `number` settings as
`string` (meltano_plugin.py) and the tap reads the number here. The SDK's `--config ENV` passes
numbers as text too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def is_number_setting(schema: Mapping[str, Any]) -> bool:
    """Whether a setting's JSON Schema is a (nullable) number."""
    types = schema.get("type", [])
    return "number" in ([types] if isinstance(types, str) else types)


def numbers_from_text(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, float]:
    """The `number` settings given as numeric text, as numbers.

    Other text is left alone, for the schema check to reject with the setting's name.
    """
    numbers: dict[str, float] = {}
    for name, setting in schema.get("properties", {}).items():
        value = config.get(name)
        if not isinstance(value, str) or not is_number_setting(setting):
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            numbers[name] = number
    return numbers
