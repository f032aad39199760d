"""The core stays pure: a core module that imports Kafka, HTTP, faust, a clock or the file
system would let I/O into the rules. This walks every import statement of every module in
referral_hub/core/ (including those inside functions) and fails on anything not allowed."""
import ast
import sys
from pathlib import Path

import referral_hub.core

CORE = Path(referral_hub.core.__file__).parent
ALLOWED_LIBRARIES = {"pydantic", "pydantic_core", "holidays"}  # the contract; calendar data
ALLOWED_HUB_MODULES = ("referral_hub.core", "referral_hub.config")
# Standard library modules that reach nothing outside the process.
PURE_STANDARD_LIBRARY = {"__future__", "calendar", "collections", "dataclasses", "datetime",
                         "enum", "functools", "hashlib", "itertools", "math", "re", "string",
                         "typing", "zoneinfo", "operator", "decimal", "abc", "json", "types"}


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def allowed(module: str) -> bool:
    if module.startswith("."):
        return True  # relative: within the core package
    top = module.split(".")[0]
    return (top in ALLOWED_LIBRARIES or top in PURE_STANDARD_LIBRARY
            or any(module == m or module.startswith(m + ".") for m in ALLOWED_HUB_MODULES))


def test_every_core_module_imports_only_the_core_its_contract_and_pure_libraries():
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 8, "the core folder lost its modules"
    offending = {f"{path.name}: {module}" for path in modules for module in imported_modules(path)
                 if not allowed(module)}
    assert not offending, f"core modules importing outside the core: {sorted(offending)}"


def test_the_rule_catches_an_adapter_import(tmp_path):
    """The walk sees imports inside functions too, where a shortcut would hide one."""
    module = tmp_path / "sneaky.py"
    module.write_text("def f():\n    from referral_hub.adapters.kafka import make_producer\n"
                      "    import os\n")
    assert [m for m in imported_modules(module) if not allowed(m)] == [
        "referral_hub.adapters.kafka", "os"]


def test_the_pure_standard_library_list_names_real_modules():
    assert PURE_STANDARD_LIBRARY <= sys.stdlib_module_names | {"__future__"}
