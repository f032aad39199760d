"""No two modules of the hub import each other, directly or round a loop, even inside a
function: a cycle means neither can be understood (or tested) without the other, as
stack.py and demo.py once were."""
import ast
from pathlib import Path

from referral_hub.settings import REPO_ROOT


def hub_modules() -> dict[str, Path]:
    """Module name -> file, services/ under its installed name referral_hub.services."""
    modules = {}
    for path in [*(REPO_ROOT / "referral_hub").rglob("*.py"), *(REPO_ROOT / "services").rglob("*.py")]:
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        parts = ["referral_hub", *parts] if parts[0] == "services" else parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            candidates = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in modules and c != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, path = [], {}, []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_the_hub_has_no_import_cycle():
    modules = hub_modules()
    assert "referral_hub.services.router.app" in modules and "referral_hub.core.rules" in modules
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_a_cycle_round_three_modules_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
