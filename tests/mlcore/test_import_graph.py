"""mlcore's import graph: no cycle (counting imports at any nesting level) and never Django.

`python tests/mlcore/test_import_graph.py` prints the graph, one module and what it imports per line.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

MLCORE = Path(__file__).resolve().parents[2] / "mlcore"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, top level or inside a function (`from mlcore import x` counts x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def mlcore_graph() -> dict[str, set[str]]:
    """mlcore module name -> the mlcore modules it imports."""
    modules = {p.stem for p in MLCORE.glob("*.py")}
    graph = {}
    for name in modules:
        targets = {
            m.split(".")[1] for m in imported_modules(MLCORE / f"{name}.py") if m.startswith("mlcore.")
        }
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_mlcore_has_no_import_cycle() -> None:
    try:
        order = list(graphlib.TopologicalSorter(mlcore_graph()).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle in mlcore: {' -> '.join(exc.args[1])}") from exc
    assert "bundle" in order and "image" in order


def test_a_cycle_would_be_caught() -> None:
    graph = {**mlcore_graph(), "image": {"decoding"}}  # image importing decoding closes decoding -> image
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError:
        return
    raise AssertionError("the cycle check missed image <-> decoding")


def test_mlcore_never_imports_django() -> None:
    offenders = {
        p.name for p in MLCORE.rglob("*.py") if any(m.split(".")[0] == "django" for m in imported_modules(p))
    }
    assert not offenders


if __name__ == "__main__":
    for module, targets in sorted(mlcore_graph().items()):
        print(f"{module:14} -> {', '.join(sorted(targets))}")
