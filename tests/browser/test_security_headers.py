"""The app's HTTP answers carry security headers (issue 13 §16): Streamlit sent no
X-Frame-Options, CSP or nosniff. ``python -m core app run`` now serves the app through
``streamlit_asgi.py`` (core.app.headers). Checked on the real app's page, health check, a
static asset and a 404; and a real browser refuses to show the app framed by another origin."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from core.app.headers import HEADERS
from tests.browser.harness import phone_browser, running_app

pytestmark = pytest.mark.browser


def headers_of(url: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return {k.lower(): v for k, v in exc.headers.items()}


def test_every_answer_has_the_security_headers_and_other_sites_cannot_frame_the_app(tmp_path, chromium_path):
    data = tmp_path / "data"
    data.mkdir()
    with running_app(data) as url:
        with urllib.request.urlopen(url, timeout=10) as r:
            index = r.read().decode()
        asset = re.search(r'(?:src|href)="\.?(/?static/[^"]+\.(?:js|css))"', index)
        assert asset, "no static asset referenced by the page"
        paths = ["/", "/_stcore/health", "/" + asset.group(1).lstrip("/"), "/no-such-file.txt"]
        for path in paths:
            got = headers_of(url + path)
            for name, value in HEADERS:
                assert got.get(name.decode()) == value.decode(), (path, name, got)
        # A page of another origin (a data: URL here) framing the app gets nothing drawn.
        with phone_browser(None, tmp_path / "profile") as page:
            page.set_content(f'<iframe id="f" src="{url}/" width="300" height="300"></iframe>')
            page.wait_for_timeout(3000)
            framed = page.frame_locator("#f").locator("[data-testid=stApp]")
            assert framed.count() == 0, "the app was drawn inside another origin's frame"
