"""The package's shape: no import cycle (function-level imports included, no exceptions), layers that
only import downwards, no private names borrowed across packages, short functions, a light top-level import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vega_anchors"

# The layers, lowest first. A unit is a top-level module or sub-package of vega_anchors ("" is the
# package's own __init__). A module imports only from its own unit or from units of LOWER layers:
# never upwards, never sideways within a layer. Function-level imports count.
LAYERS: list[tuple[str, ...]] = [
    # utilities: no vega_anchors imports of note
    ("_io", "_bootstrap", "errors", "labels", "distributed", "images", "_hub_card"),
    ("encoders", "_rundir"),  # text / audio / image encoders and their identities; the run directory files
    ("anchors", "data"),  # anchor banks; dialogues, tables, text features, feature stores
    ("sampling", "heads", "metrics"),
    ("losses",),
    ("models",),
    ("training", "media", "official", "toy", "plots", "finetune"),  # finetune: finetune-text
    ("recipes", "run_report", "features"),  # features: build_features (tables and clips → a store)
    ("runs",),
    ("hub",),  # runs and anchor banks on the Hugging Face Hub (resolve_pretrained: Hub id or folder)
    # annotate: a video + transcript → a run's predictions and a page; tuning: vega-anchors tune (Optuna)
    ("baselines", "compare", "annotate", "tuning"),
    ("ablations",),
    ("cli", "bench"),
    ("",),  # vega_anchors/__init__.py: the top-level front
]
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, path: Path, *, top_level_only: bool) -> set[str]:
    """The vega_anchors modules ``module`` imports (resolved to existing modules)."""
    known = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if id(node) in typing_only:  # annotations only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            # `from pkg import submodule` imports the submodule; `from pkg import name` the package
            names = submodules if len(submodules) == len(node.names) else [*submodules, target]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("vega_anchors") and name != module:
                found.add(name)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _with_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a.b/__init__`` first: add those edges (except a package's own children)."""
    full = {m: set(deps) for m, deps in graph.items()}
    for module, deps in graph.items():
        for dep in deps:
            parent = dep.rpartition(".")[0]
            while parent and parent != "vega_anchors" and not module.startswith(parent + "."):
                if parent in graph and parent != module:
                    full[module].add(parent)
                parent = parent.rpartition(".")[0]
    return full


def test_module_level_imports_have_no_cycle() -> None:
    graph = {m: _imports(m, p, top_level_only=True) for m, p in _modules().items()}
    assert _cycle(_with_parents(graph)) is None, f"import cycle: {' -> '.join(_cycle(_with_parents(graph)) or [])}"


def test_no_import_cycle_counting_function_level_imports() -> None:
    graph = {m: _imports(m, p, top_level_only=False) for m, p in _modules().items()}
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle through a function-level import: {' -> '.join(cycle)}"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_unit_has_a_layer() -> None:
    placed = {u for layer in LAYERS for u in layer}
    units = {_unit(m) for m in _modules()}
    assert units <= placed, f"give these a layer in LAYERS: {sorted(units - placed)}"
    assert len(placed) == sum(len(layer) for layer in LAYERS), "a unit is in two layers"


def test_imports_only_point_down_the_layers() -> None:
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    against = []
    for module, path in _modules().items():
        for target in _imports(module, path, top_level_only=False):
            low, high = _unit(target), _unit(module)
            if low != high and rank[low] >= rank[high]:
                against.append(f"{module} -> {target}")
    assert not against, "imports against the layer order: " + "; ".join(sorted(against))


def _private_owner(target: str, names: list[str]) -> str | None:
    """The package whose private machinery ``from target import names`` reaches into (``None``: public).

    ``_name`` in ``pkg.mod`` (or ``pkg``) belongs to ``pkg``; a ``_module`` to the package holding it."""
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_"):
            return ".".join(parts[:i])
    if any(n.startswith("_") and n != "__version__" for n in names):
        return target if target in _packages() else target.rpartition(".")[0]
    return None


def test_no_private_name_is_imported_from_another_package() -> None:
    """Private machinery (``_name``, ``_module``) is used only inside the package that holds it."""
    borrowed = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, path.name == "__init__.py", node)
                names = [a.name for a in node.names]
                owner = _private_owner(target, names) if target.startswith("vega_anchors") else None
                if owner is not None and module != owner and not module.startswith(owner + "."):
                    borrowed.append(f"{module}: from {target} import {', '.join(a.name for a in node.names)}")
    assert not borrowed, "private names used across packages: " + "; ".join(borrowed)


def _packages() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("__init__.py")}


def test_no_function_is_longer_than_80_lines() -> None:
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert not long, "split these functions: " + "; ".join(long)


def test_import_is_light() -> None:
    heavy = ["open_clip", "transformers", "sentence_transformers", "sklearn", "matplotlib", "av", "cv2", "opensmile"]
    code = (
        "import sys, vega_anchors, vega_anchors.data, vega_anchors.training, vega_anchors.official\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
