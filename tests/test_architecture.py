"""The layout docs/architecture.md describes, held: each source flows client → plan → fetch →
emit with no module importing a later stage, the plans import no singer-sdk module, no import
circle (type-only and function-local imports included), and singer-sdk internals only under
`tap_segment_analytics/sdk/`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import singer_sdk
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams._state import StreamStateManager

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "tap_segment_analytics": ROOT / "tap_segment_analytics",
    "segment_analytics_sandbox": ROOT / "sandbox" / "segment_analytics_sandbox",
}
STAGES = ("api", "plan", "fetch", "emit")
SDK_ADAPTER = "tap_segment_analytics.sdk"


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every import statement of `module`."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names]


def _edges(module: str) -> set[str]:
    """The modules of the tap and the sandbox that `module` imports."""
    edges = set()
    for imported, names in _imports(module):
        for candidate in [f"{imported}.{name}" for name in names] + [imported]:
            if candidate in MODULES and candidate != module:
                edges.add(candidate)
                break
    return edges


GRAPH = {module: _edges(module) for module in MODULES}


def _cycle() -> list[str] | None:
    """One import circle, if there is any."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_of_the_tap_or_the_sandbox_is_in_an_import_circle() -> None:
    assert _cycle() is None, " → ".join(_cycle() or [])


def _stage(module: str) -> tuple[str, int] | None:
    """(source, stage index) of a module inside a source's stage folder."""
    parts = module.split(".")
    if len(parts) >= 4 and parts[0] == "tap_segment_analytics" and parts[2] in STAGES:
        return parts[1], STAGES.index(parts[2])
    return None


@pytest.mark.parametrize("source", ["appstore", "braze"])
def test_each_stage_imports_only_itself_and_the_stages_before_it(source: str) -> None:
    staged = [m for m in MODULES if (_stage(m) or ("",))[0] == source]
    assert {STAGES[_stage(m)[1]] for m in staged if _stage(m)} == set(STAGES), (  # type: ignore[index]
        f"{source}/ has a folder per stage"
    )
    later = [
        (module, target)
        for module in staged
        for target in GRAPH[module]
        if (_stage(target) or ("", -1))[1] > _stage(module)[1]  # type: ignore[index]
    ]
    assert later == []
    runtime = f"tap_segment_analytics.{source}.runtime"
    assert not [t for t in GRAPH[runtime] if t.startswith(f"tap_segment_analytics.{source}.emit")]


@pytest.mark.parametrize("source", ["appstore", "braze"])
def test_a_plan_imports_no_singer_sdk_module(source: str) -> None:
    plans = [m for m in MODULES if m.startswith(f"tap_segment_analytics.{source}.plan.")]
    code = (
        "import importlib, sys\n"
        f"for name in {plans!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'singer_sdk'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert plans
    assert out.strip() == "[]"


def _sdk_private_names() -> set[str]:
    """The private members of the SDK classes the tap builds on."""
    names: set[str] = set()
    for cls in (Stream, RESTStream, Tap, PluginBase, StreamStateManager):
        names |= {n for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    return names


def test_singer_sdk_internals_are_used_only_in_the_sdk_adapter() -> None:
    private = _sdk_private_names()
    assert "_sync_children" in private, "the SDK still has the members this test looks for"
    used = []
    for module, path in MODULES.items():
        if not module.startswith("tap_segment_analytics") or module.startswith(SDK_ADAPTER):
            continue
        for imported, names in _imports(module):
            if imported.split(".")[0] != singer_sdk.__name__:
                continue
            if any(part.startswith("_") for part in imported.split(".")) or any(
                name.startswith("_") for name in names
            ):
                used.append(f"{module}: import {imported} {names}")
        text = path.read_text()
        used += [
            f"{module}: {name}"
            for name in sorted(private)
            if re.search(rf"(\.|def ){re.escape(name)}\b", text)
        ]
    assert used == []
