"""Every page goes through the router first (``pages._shared.through_router``: see why there)."""

from __future__ import annotations

import ast
from pathlib import Path

PAGES = Path(__file__).resolve().parents[2] / "pages"


def test_every_page_calls_through_router_before_anything_else():
    pages = sorted(p for p in PAGES.glob("*.py") if not p.name.startswith("_"))
    assert len(pages) >= 8
    for page in pages:
        body = [
            n
            for n in ast.parse(page.read_text(encoding="utf-8")).body
            if not isinstance(n, ast.Expr | ast.Import | ast.ImportFrom)
            or isinstance(n, ast.Expr)
            and not isinstance(n.value, ast.Constant)
        ]
        first = body[0]
        assert (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Call)
            and getattr(first.value.func, "id", None) == "through_router"
        ), f"{page.name}: the first statement after the imports must be through_router()"
