"""requirements.txt covers every third-party module the runtime imports (core/, lambda_src/,
pages/, streamlit_app.py): `make run` installs only that file, so a module that arrives only
through requirements-dev.txt (pyyaml came with cfn-lint and moto) works under `make test` and
fails for a user (`python -m core deploy status`: ModuleNotFoundError)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_SOURCES = [*sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "lambda_src").rglob("*.py"))]
RUNTIME_SOURCES += [*sorted((ROOT / "pages").rglob("*.py")), ROOT / "streamlit_app.py"]
FIRST_PARTY = {"core", "lambda_src", "pages", "streamlit_app"}


def _is_optional(node: ast.AST, parents: dict) -> bool:
    """An import inside ``try: ... except ImportError`` (or ModuleNotFoundError) is optional."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
    return False


def third_party_imports(paths, root: Path = ROOT) -> dict[str, set[str]]:
    """Top-level module name -> files that import it unconditionally (stdlib, first-party and
    relative imports left out)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if _is_optional(node, parents):
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(root)))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> set[str]:
    """Distribution names in a requirements file (``-r`` includes followed)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            names |= requirement_names(path.parent / line[2:].strip())
            continue
        names.add(_norm(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0]))
    return names


def hard_dependencies(names: set[str]) -> set[str]:
    """``names`` plus every distribution they require without an extra, transitively: those are
    installed whenever ``names`` are."""
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req.replace('"', " ").replace("'", " ") or "extra==" in req:
                continue
            todo.append(_norm(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0]))
    return out


def provided_modules(dists: set[str]) -> set[str]:
    """Top-level modules the installed distributions ``dists`` provide (from their file lists,
    so a bare extension module such as dlib-bin's ``dlib.*.so`` counts too)."""
    out = set()
    for name in dists:
        try:
            files = md.distribution(name).files or []
        except md.PackageNotFoundError:
            continue
        for file in files:
            parts = Path(str(file)).parts
            if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue
            out.add(parts[0].split(".")[0] if len(parts) == 1 else parts[0])
    return out


def uncovered(imports: dict[str, set[str]], requirements: Path) -> dict[str, str]:
    """Imported modules no distribution of ``requirements`` (or their hard dependencies)
    provides -> why."""
    covered = provided_modules(hard_dependencies(requirement_names(requirements)))
    providers = md.packages_distributions()
    return {
        module: f"{providers.get(module, ['nothing installed'])} is not in {requirements.name} "
        f"(imported by {sorted(files)})"
        for module, files in sorted(imports.items())
        if module not in covered
    }


def test_runtime_requirements_cover_every_third_party_import():
    imports = third_party_imports(RUNTIME_SOURCES)
    assert {"boto3", "numpy", "yaml", "streamlit"} <= set(imports)  # the scan sees real imports
    assert uncovered(imports, ROOT / "requirements.txt") == {}


def test_the_check_sees_a_module_only_the_dev_requirements_bring(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("boto3>=1.34\n")
    missing = uncovered({"yaml": {"core/deploy/template.py"}, "botocore": {"x.py"}}, req)
    assert set(missing) == {"yaml"}  # botocore comes with boto3; pyyaml with nothing declared
    src = tmp_path / "m.py"
    src.write_text("try:\n    import argon2\nexcept ImportError:\n    argon2 = None\nimport yaml\n")
    assert set(third_party_imports([src], root=tmp_path)) == {"yaml"}  # the optional argon2 is not counted
