"""The layers point one way (docs/contributing/layers.md).

Every import of our own code in every module — at the top or inside a function —
is read from the source (ast) and checked against the allowed directions:

    core (qbr.*, not qbr.app)    -> core
    api                          -> core, api
    dashboard                    -> core, api, dashboard
    dlt_pipelines                -> core, dlt_pipelines
    sandbox                      -> core, sandbox
    application (qbr.app), bench -> anything but tests
    tests                        -> anything

and nothing outside tests/ imports from tests/. Inside the core an import in a
function body is how a cycle hides, so the core has none of its own modules
except the few listed in LAZY_IN_CORE, each for start-up time.

The checker is tested on synthetic modules too, so it is known to catch each
kind of forbidden import, not only to find none today.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qbr.settings import PROJECT_ROOT

OURS = ("qbr", "api", "dashboard", "dlt_pipelines", "sandbox", "bench", "tests")

#: What each layer may import (of ours).
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "api": {"core", "api"},
    "dashboard": {"core", "api", "dashboard"},
    "dlt_pipelines": {"core", "dlt_pipelines"},
    "sandbox": {"core", "sandbox"},
    "app": {"core", "api", "dashboard", "dlt_pipelines", "sandbox", "app", "bench"},
    "bench": {"core", "api", "dashboard", "dlt_pipelines", "sandbox", "app", "bench"},
    "tests": set(OURS) | {"core", "app"},
}

#: Function-level imports of core modules inside the core, and why they are lazy.
LAZY_IN_CORE = {
    ("qbr.db", "qbr.migrate"): "alembic is slow to import; `qbr db status` must not pay it",
}

#: The benchmarks at their old places, which issue 15 moves to bench/ (and rewrites):
#: not checked here; bench/ is, as the `bench` layer.
LEGACY_BENCH = {"api.bench", "dashboard.bench", "dlt_pipelines.bench", "qbr.bench"}


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    if top not in OURS:
        return None
    if top == "qbr":
        return "app" if module == "qbr.app" or module.startswith("qbr.app.") else "core"
    return top


def _imports(module: str, tree: ast.AST, is_package: bool) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import in the tree."""
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    in_function.add(id(inner))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `from qbr import refresh` imports the module qbr.refresh
            names = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, node.lineno, id(node) in in_function) for name in names]
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every forbidden import in `source` (the text of `module`), one line each."""
    layer = layer_of(module)
    if layer is None or module in LEGACY_BENCH:
        return []
    problems = []
    for name, line, lazy in _imports(module, ast.parse(source), is_package):
        target = layer_of(name)
        if target is None:
            continue
        if target == "tests" and layer != "tests":
            problems.append(f"{module}:{line} imports {name}: nothing in a package imports tests")
        elif target not in ALLOWED[layer]:
            problems.append(f"{module}:{line} imports {name}: {layer} may not import {target}")
        elif layer == "core" and lazy:
            imported = name if name in MODULES else name.rsplit(".", 1)[0]
            if (module, imported) not in LAZY_IN_CORE:
                problems.append(
                    f"{module}:{line} imports {name} inside a function: the core imports at "
                    "the top (a function-level import hides a cycle)"
                )
    return problems


def _modules() -> dict[str, Path]:
    found = {}
    for top in OURS:
        root = PROJECT_ROOT / top
        if not root.is_dir():
            continue
        for path in root.rglob("*.py"):
            rel = path.relative_to(PROJECT_ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def test_every_package_is_seen():
    """The walk finds the layers (an empty walk would pass everything)."""
    layers = {layer_of(m) for m in MODULES}
    assert {"core", "app", "api", "dashboard", "dlt_pipelines", "sandbox", "tests"} <= layers
    assert "qbr.app.refresh.run" in MODULES and "qbr.refresh.queue" in MODULES
    assert len(MODULES) > 150


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module):
    path = MODULES[module]
    assert violations(module, path.read_text(), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("qbr.settings", "from qbr.app import cli", "core may not import app"),
        ("qbr.health", "import api.views", "core may not import api"),
        ("qbr.refresh.queue", "from dlt_pipelines import runner", "core may not import"),
        ("api.views.refresh", "from qbr.app import refresh", "api may not import app"),
        ("api.app", "from dashboard import dashboard_blueprint", "api may not import dashboard"),
        ("api.views.x", "def f():\n    from dlt_pipelines import steps\n", "api may not import"),
        ("dashboard.blueprint", "from sandbox import msp", "dashboard may not import sandbox"),
        ("dlt_pipelines.runner", "from qbr.app import sources", "dlt_pipelines may not import"),
        ("dlt_pipelines.connectwise", "from ..quickbooks import x", None),
        ("dlt_pipelines.connectwise", "from api import roles", "dlt_pipelines may not import"),
        ("sandbox.cli", "from dlt_pipelines import pnl", "sandbox may not import"),
        ("sandbox.servers.runner", "from . import runner_tests\nimport tests.x", "imports tests"),
        ("qbr.app.cli", "from tests.api import marts_fixture", "nothing in a package"),
        ("qbr.db", "def f():\n    from qbr import health\n", "inside a function"),
        ("qbr.db", "def f():\n    from qbr import migrate\n", None),
        ("qbr.app.cli", "def f():\n    from sandbox import cli\n", None),
        ("dashboard.blueprint", "from api.db import get_conn", None),
        ("tests.x", "from qbr.app import refresh\nfrom tests import y", None),
    ],
)
def test_the_checker_catches_each_forbidden_direction(module, source, expected):
    found = violations(module, source, is_package=module.endswith("connectwise"))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_relative_imports_resolve_to_the_package():
    tree = ast.parse("from . import settings\nfrom ..errors import SourceError")
    names = [n for n, _, _ in _imports("dlt_pipelines.connectwise", tree, is_package=True)]
    assert names == ["dlt_pipelines.connectwise.settings", "dlt_pipelines.errors.SourceError"]
