"""The import rules (``[tool.importlinter]`` in pyproject.toml) hold: the library never imports
the UI, pages reach adapters only through the bootstrap, Lambda handlers nothing of the local
world, no cycles in core, core's layers. ``lint-imports`` cannot see ``streamlit_app.py`` (a
module, not a package), so the router is checked here with the same forbidden list."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


def test_the_router_imports_no_adapter_either():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    pages_rule = next(c for c in config["contracts"] if c["source_modules"] == ["pages"] and c["type"] == "forbidden")
    forbidden = pages_rule["forbidden_modules"]
    bad = [
        name
        for name in _imports(ROOT / "streamlit_app.py")
        for rule in forbidden
        if fnmatch(name, rule) or fnmatch(name, rule + ".*")
    ]
    assert bad == []
