"""Imports point down: no cycle between medlc's top-level packages or between the modules
of the scoring backend, and the ground modules import nothing else of ours."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("medlc", "medlc_core", "medlc_tasks", "finetune", "reports")


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module `path` imports, at the top or inside a function, absolute names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's own package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (names that are not modules dropped)."""
    files = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges[name] = {m for m in imported_modules(path, package) if m in modules and m != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_top_level_packages_import_without_a_cycle():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, imports in graph().items():
        top = module.split(".")[0]
        packages[top] |= {m.split(".")[0] for m in imports} - {top}
    assert find_cycle(packages) is None


def test_backend_modules_import_without_a_cycle():
    # The package's __init__ re-exports its modules; the modules must not lean on each other in a ring.
    backend = {
        m: {i for i in imports if i.startswith("medlc.backend.")}
        for m, imports in graph().items()
        if m.startswith("medlc.backend.")
    }
    assert find_cycle(backend) is None


def test_ground_modules_import_nothing_else_of_ours():
    ours = {m: i for m, i in graph().items() if m.startswith("medlc_core")}
    assert {m: sorted(i) for m, i in ours.items() if any(not x.startswith("medlc_core") for x in i)} == {}


def test_reports_read_results_without_the_runner():
    leaning = {
        m for m, i in graph().items() if m.startswith("reports") and any(x.startswith("medlc.") for x in i)
    }
    assert leaning == set()


def test_backend_knows_nothing_of_the_exam():
    knowing = {
        m
        for m, i in graph().items()
        if m.startswith("medlc.backend") and any(x.startswith("medlc_tasks") for x in i)
    }
    assert knowing == set()
