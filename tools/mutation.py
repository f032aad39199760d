"""Mutation testing of the pure core against the unit tests: `make mutation [MODULE=rules]`.

mutmut changes the core's code one small step at a time (a `>=` into `>`, a 365 into
366, a string into another) and runs the unit tests that reach the changed function; a
mutant the tests still pass "survives": a wrong boundary no test would notice.

mutmut runs in a fresh copy of the project under .run/mutation (its mutants/ folder and
its configuration stay out of the work tree), with the virtualenv .venv-mutation of its
own. Then this prints each core module's score and the mutants that survived, each as the
line it changed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".run" / "mutation"
CORE_PACKAGE = REPO / "referral_hub" / "core"
# What the unit tests read besides the package: mutmut copies these beside its mutants.
PROJECT = ("referral_hub", "services", "tests", "config", "samples", "schemas", "deploy")
SOURCE_LAYOUT_TESTS = ("test_core_imports.py", "test_import_cycles.py")
KILLED = {1, 3, -24, 24, 36, 152, 255}  # a failing test, pytest's internal error, a timeout
DECORATOR = re.compile(r"@(dataclass(\(.*\))?)$")


def core_paths() -> list[str]:
    """The core's source files, relative to the repository: the one list of what is mutated,
    every module of referral_hub/core (whatever later work adds to it)."""
    return sorted(str(p.relative_to(REPO)) for p in CORE_PACKAGE.glob("*.py") if p.name != "__init__.py")


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def undecorate_dataclasses(source: str) -> str:
    """`@dataclass class X: ...` as `class X: ...` then `X = dataclass(X)`: the same class, but
    mutmut leaves decorated classes alone, and most rules are methods of dataclasses."""
    lines, pending = [], None
    for line in source.splitlines():
        starts_statement = line[:1] not in ("", " ", "#", ")")
        if pending and starts_statement and not line.startswith("class "):
            lines += [f"{pending[1]} = {pending[0]}({pending[1]})", ""]
            pending = None
        decorator = DECORATOR.match(line)
        if decorator:
            pending = (decorator.group(1), None)
            continue
        if pending and pending[1] is None and line.startswith("class "):
            pending = (pending[0], re.match(r"class (\w+)", line).group(1))
        lines.append(line)
    if pending:
        lines.append(f"{pending[1]} = {pending[0]}({pending[1]})")
    return "\n".join(lines) + "\n"


def lay_out_copy(paths: list[str]) -> None:
    """A fresh copy of the project, without the results of an earlier run."""
    # mutmut keeps results between runs and does not always redo a mutant after the tests
    # changed: every run starts afresh, so no score is stale.
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")
    for name in PROJECT:
        shutil.copytree(REPO / name, WORK / name, ignore=ignore)
    for path in paths:
        copy = WORK / path
        copy.write_text(undecorate_dataclasses(copy.read_text()))
    also_copy = [name for name in PROJECT if name not in ("referral_hub", "tests")]
    settings = (f"\n[tool.mutmut]\nsource_paths = [\"referral_hub\"]\n"
                f"only_mutate = {json.dumps(paths)}\n"
                f"also_copy = {json.dumps(also_copy)}\n"
                "pytest_add_cli_args_test_selection = [\"tests/unit\"]\n"
                # tests/unit/conftest.py: the same hypothesis examples every run
                "pytest_add_cli_args = [\"--hypothesis-profile=mutation\", \"-p\", \"no:cacheprovider\", "
                # The import-boundary tests read the source, where mutmut adds its own import:
                # they test the layout, not what the core decides.
                + ", ".join(f'\"--ignore=tests/unit/{name}\"' for name in SOURCE_LAYOUT_TESTS) + "]\n")
    (WORK / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + settings)


def run_mutmut(selected: list[str]) -> None:
    mutmut = Path(sys.executable).parent / "mutmut"
    patterns = [f"{dotted(path)}.*" for path in selected]
    subprocess.run([str(mutmut), "run", *patterns], cwd=WORK, check=True)


def results(path: str) -> dict[str, int | None]:
    meta = WORK / "mutants" / f"{path}.meta"
    return json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}


def changed_lines(mutant: str, path: str) -> list[str]:
    """The mutant as the lines it changes ('-' the original, '+' the mutant), stripped."""
    from mutmut.__main__ import get_diff_for_mutant  # mutmut's own diff, run in WORK
    shown = get_diff_for_mutant(mutant, path=path).splitlines()
    return [line[0] + line[1:].strip() for line in shown
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def equivalent_mutants() -> list[list[str]]:
    """The README's list of mutants no test can kill: each its '-' and '+' lines."""
    block = re.search(r"```equivalent-mutants\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    entries = re.split(r"\n(?=#)", block.group(1).strip()) if block else []
    return [[line[0] + line[1:].strip() for line in entry.splitlines() if line[:1] in "+-"]
            for entry in entries]


def report(paths: list[str], show_survivors: bool) -> bool:
    """Print each module's score and survivors; True when every module kills 95% of the
    mutants that are not equivalent."""
    os.chdir(WORK)
    equivalent = equivalent_mutants()
    print(f"\n{'module':40} {'killed':>7} {'total':>6} {'equivalent':>10} {'score':>7}")
    scores, survivors = {}, {}
    for path in paths:
        codes = results(path)
        killed = sum(code in KILLED for code in codes.values())
        survivors[path] = {name: changed_lines(name, path) for name, code in sorted(codes.items())
                           if code not in KILLED}
        same = sum(lines in equivalent for lines in survivors[path].values())
        scores[path] = killed / (len(codes) - same) if len(codes) > same else 1.0
        print(f"{path:40} {killed:7} {len(codes):6} {same:10} {scores[path]:7.1%}")
    for path in paths:
        if show_survivors and survivors[path]:
            print(f"\nSurvivors in {path} ('equivalent': in the README's list, with why):")
            for name, lines in survivors[path].items():
                mark = "  (equivalent)" if lines in equivalent else ""
                print(f"  {name}{mark}\n" + "\n".join(f"      {line}" for line in lines))
    return all(score >= 0.95 for score in scores.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", help="one core module, e.g. rules (default: all)")
    parser.add_argument("--quiet", action="store_true", help="scores only, no survivors")
    args = parser.parse_args()
    paths = core_paths()
    selected = [p for p in paths if Path(p).stem == args.module] if args.module else paths
    if not selected:
        parser.error(f"{args.module} is not a core module: {', '.join(Path(p).stem for p in paths)}")
    lay_out_copy(paths)
    run_mutmut(selected)
    return 0 if report(selected, show_survivors=not args.quiet) else 1


if __name__ == "__main__":
    sys.exit(main())
