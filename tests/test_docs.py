"""README is a front page, and every relative link of README and docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
README = PROJECT_ROOT / "README.md"
PAGES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
# A markdown link's target: [text](target), the target without its #fragment.
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MOST_BYTES = 12_000


def relative_links(page: Path) -> list[str]:
    """The targets of a page's links to files of this repository (fragments dropped)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    targets = [target.split("#", 1)[0] for target in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"[a-z]+:", t)]


def test_readme_is_a_front_page() -> None:
    assert len(README.read_bytes()) <= README_MOST_BYTES


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page: Path) -> None:
    links = relative_links(page)
    missing = [link for link in links if not (page.parent / link).exists()]

    assert missing == []


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / link).resolve() for link in relative_links(README)}

    assert {page.resolve() for page in PAGES[1:]} <= linked
