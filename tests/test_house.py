"""The house keeps sizes a reader holds in mind and imports that flow one way.

Read from the source with ``ast`` (nothing of the project is imported): every module under ``search/`` and
``trainable/`` is at most 400 lines, every function at most 60; no import cycle between the project's modules,
counting imports inside functions (a cycle hidden in a function is still a cycle); each package's ``__init__.py``
has a docstring saying its one job; each package's sub-packages and modules sit in layers, and a module imports only
from its own layer member or the layers below (``LAYERS``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "trainable")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Per package, its layers from the bottom: a module of one member (a sub-package or a top-level module) imports
# only its own member and the members of lower layers; members of the bottom layer (the foundations) import each
# other freely. trainable never imports search.
LAYERS: dict[str, list[tuple[str, ...]]] = {
    "trainable": [("config", "defaults", "setting_text", "errors", "valid_range", "progress_board"), ("data",),
                  ("labels",), ("learn",), ("inputs",), ("self_training",), ("trial",), ("tune_trial",)],
    "search": [("errors", "files", "outputs"), ("results",), ("model",), ("report", "launch"), ("cli",), ("__main__",)],
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every project module by dotted name (a package by its own name, for its ``__init__.py``)."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _modules()


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def _imported(name: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules an import statement in module ``name`` loads by name."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, up level - 1 more
            package = name.split(".") if is_package else name.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        # ``from pkg import sub`` loads pkg.sub when it is a module, else takes a name from pkg
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    found = set()
    for target in targets:
        while target and target not in MODULES:  # ``import a.b.func``-like spellings fall back to the module
            target = target.rpartition(".")[0]
        if target:
            found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at the top or inside any function."""
    graph = {}
    for name, tree in _trees().items():
        is_package = MODULES[name].name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _imported(name, is_package, node)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_module_over_400_lines() -> None:
    over = {_relative(p): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by job): {over}"


def test_no_function_over_60_lines() -> None:
    over = {}
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    over[f"{_relative(MODULES[name])}:{node.lineno} {node.name}"] = length
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines (name their steps): {over}"


def layer_of(module: str) -> tuple[str, int, str] | None:
    """(package, layer number, member) of a module; None for a package's own ``__init__``."""
    package, _, rest = module.partition(".")
    if not rest:
        return None
    member = rest.split(".")[0]
    for number, members in enumerate(LAYERS[package]):
        if member in members:
            return package, number, member
    raise AssertionError(f"{module} is in no layer of tests/test_house.py's LAYERS: put it in the layer of its job")


def layer_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer, sideways to another member of a layer above the bottom, or from trainable
    to search."""
    found = []
    for module in sorted(graph):
        here = layer_of(module)
        for target in sorted(graph[module]):
            there = layer_of(target)
            if here is None or there is None:
                continue
            if here[0] != there[0]:
                if here[0] == "trainable":
                    found.append(f"{module} -> {target} (trainable never imports search)")
                continue
            if there[1] > here[1] or (there[1] == here[1] > 0 and there[2] != here[2]):
                found.append(f"{module} -> {target}")
    return found


def test_imports_go_down_the_layers() -> None:
    found = layer_breaches(import_graph())
    assert not found, f"imports against the layers (move the module to the layer of its job): {found}"


def test_the_layer_check_sees_an_import_up_or_sideways() -> None:
    graph = {"trainable.data.index": {"trainable.labels.clicks", "trainable.config"},
             "search.launch.run": {"search.report.page", "search.results.experiment", "trainable.trial"},
             "trainable.learn.loop": {"search.files"}, "search.files": {"search.errors"}}
    assert layer_breaches(graph) == ["search.launch.run -> search.report.page",
                                     "trainable.data.index -> trainable.labels.clicks",
                                     "trainable.learn.loop -> search.files (trainable never imports search)"]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, f"import cycles (counting imports inside functions): {found}"


@pytest.mark.parametrize("package", sorted(n for n, p in MODULES.items() if p.name == "__init__.py"))
def test_package_says_its_job(package: str) -> None:
    docstring = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert docstring and docstring.strip(), f"{_relative(MODULES[package])} needs a docstring saying its one job"


def test_the_checks_see_a_cycle_and_resolve_relative_imports() -> None:
    """The cycle finder and the import reader on hand-made input, so a green run means something."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    relative = ast.parse("from . import frontier\nfrom .. import errors").body
    assert _imported("search.results.plots", False, relative[0]) == {"search.results.frontier"}
    assert _imported("search.results.plots", False, relative[1]) == {"search.errors"}
    assert _imported("search.x", False, ast.parse("import search.results.frontier").body[0]) == {
        "search.results.frontier"}
