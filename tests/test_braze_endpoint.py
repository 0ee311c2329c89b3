"""braze_rest_endpoint accepts a URL or an instance id."""

from __future__ import annotations

import pytest

from tap_segment_analytics.braze.api.endpoint import braze_base_url


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("iad-01", "https://rest.iad-01.braze.com"),
        ("IAD-08", "https://rest.iad-08.braze.com"),
        ("us-10", "https://rest.us-10.braze.com"),
        ("jp-01", "https://rest.jp-01.braze.com"),
        ("fra-01", "https://rest.fra-01.braze.eu"),
        ("fra-02", "https://rest.fra-02.braze.eu"),
        ("https://rest.iad-03.braze.com/", "https://rest.iad-03.braze.com"),
        ("rest.fra-02.braze.eu", "https://rest.fra-02.braze.eu"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_endpoint_setting_maps_to_base_url(setting: str, url: str) -> None:
    assert braze_base_url(setting) == url


@pytest.mark.parametrize("setting", ["iad-09", "fra-03", "ftp://rest.iad-01.braze.com", "https://"])
def test_unknown_endpoint_names_the_setting(setting: str) -> None:
    with pytest.raises(ValueError, match="braze_rest_endpoint"):
        braze_base_url(setting)
