"""DESIGN: imports go one way, tickets -> notifications -> cstrack."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"cstrack": {"tickets", "notifications"}, "notifications": {"tickets"}}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {f: names for f, names in offenders.items() if names} == {}


# --- No cycles, no borrowed private names ------------------------------------------------------

PACKAGES = ("tickets", "notifications", "cstrack")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(module imported, names taken from it) for every import in the file, those inside
    functions included: a cycle hidden in a function is still a cycle."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    yield submodule, []
                else:
                    yield base, [alias.name]


def test_no_import_cycles_inside_the_apps():
    modules = _project_modules()
    graph = {
        name: {target for target, _ in _imports(name, path, modules) if target in modules and target != name}
        for name, path in modules.items()
    }
    # Package __init__ files that import nothing are not nodes of a cycle; the others are.
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_no_module_imports_another_modules_private_names():
    modules = _project_modules()
    borrowed = [
        f"{name}: {target}.{taken}"
        for name, path in modules.items()
        for target, names in _imports(name, path, modules)
        if target.split(".")[0] in PACKAGES
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert borrowed == []
