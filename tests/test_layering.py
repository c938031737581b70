"""The package's layering: stage subpackages import downward only.

root utilities <- data <- distillation <- sage <- run, and scale beside run (on data and
distillation); `api` (the public entry) may import every part and nothing imports it.
The check reads every import statement, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sage_rapids"

# What each part may import; "root" is the package root's utilities.
ALLOWED = {
    "root": {"root"},
    "data": {"root", "data"},
    "distillation": {"root", "data", "distillation"},
    "sage": {"root", "data", "distillation", "sage"},
    "run": {"root", "data", "distillation", "sage", "run"},
    "scale": {"root", "data", "distillation", "scale"},
    "api": {"root", "data", "distillation", "sage", "run", "scale"},
}


def part_of(module: str, subpackages: set[str]) -> str:
    """The part a dotted module below the package belongs to (`run.pipeline` -> run)."""
    head = module.split(".")[0]
    if head in subpackages:
        return head
    return "api" if head == "api" else "root"


def imported_modules(path: Path, package: Path):
    """(line, module below the package) for every import of the package in `path`;
    `from .run import pipeline` gives `run.pipeline`, `from .config import X` `config`."""
    here = list(path.relative_to(package).with_suffix("").parts)  # ["run", "pipeline"]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package.name and len(parts) > 1:
                    yield node.lineno, ".".join(parts[1:])
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        named = node.module.split(".") if node.module else []
        if node.level:
            target = here[:len(here) - node.level] + named
        elif named and named[0] == package.name:
            target = named[1:]
        else:
            continue
        if not target or (package.joinpath(*target) / "__init__.py").is_file():
            for alias in node.names:  # names of a package are its modules
                yield node.lineno, ".".join(target + [alias.name])
        else:
            yield node.lineno, ".".join(target)


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import that runs against the layering, as `file:line: what`."""
    subpackages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    subpackages.discard("cli")
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        importer = part_of(".".join(rel.with_suffix("").parts), subpackages)
        for line, module in imported_modules(path, package):
            target = part_of(module, subpackages)
            if target == "api" and importer != "api":
                problems.append(f"{rel}:{line}: imports the public api ({module}); "
                                "nothing below it may")
            elif target != "api" and target not in ALLOWED[importer]:
                problems.append(f"{rel}:{line}: {importer} imports {module} ({target}); "
                                f"{importer} may import {', '.join(sorted(ALLOWED[importer]))}")
    return problems


def mutual_imports(package: Path = PACKAGE) -> list[str]:
    """Pairs of modules that import each other."""
    edges = {}
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(package).with_suffix("").parts)
        edges[name] = {m for _, m in imported_modules(path, package)}
    return sorted(f"{a} <-> {b}" for a in edges for b in edges[a]
                  if a < b and a in edges.get(b, ()))


def test_imports_run_downward_only():
    assert violations() == []


def test_no_two_modules_import_each_other():
    assert mutual_imports() == []


def test_every_subpackage_says_what_it_may_import():
    for part in ALLOWED:
        init = PACKAGE / part / "__init__.py"
        if part in ("root", "api"):
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "May import" in doc and "Must not import" in doc, init


def test_the_check_names_file_and_line_of_an_upward_import(tmp_path):
    package = tmp_path / "sage_rapids"
    for part in ("data", "run", "scale"):
        (package / part).mkdir(parents=True)
        (package / part / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("X = 1\n")
    (package / "data" / "rows.py").write_text(
        "from ..config import X\n\n\ndef f():\n    from ..run.pipeline import run\n")
    (package / "run" / "pipeline.py").write_text("from ..data.rows import f\n")
    (package / "scale" / "launch.py").write_text("from sage_rapids.run import pipeline\n")
    (package / "run" / "report.py").write_text("from sage_rapids.api import distill\n")
    found = violations(package)
    assert found == [
        "data/rows.py:5: data imports run.pipeline (run); data may import data, root",
        "run/report.py:1: imports the public api (api); nothing below it may",
        "scale/launch.py:1: scale imports run.pipeline (run); scale may import "
        "data, distillation, root, scale",
    ]
    assert mutual_imports(package) == ["data.rows <-> run.pipeline"]
