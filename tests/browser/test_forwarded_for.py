"""Who sign-in throttling counts a browser as (issue 13 §11): ``X-Forwarded-For`` sent over
loopback used to pick the throttle identity, because uvicorn (Streamlit's server) believes
forwarding headers from 127.0.0.1 by default. Now only ``FACEGATE_TRUSTED_PROXIES`` are
believed. The real app is run; a browser sending the header fails a sign-in; the app's log
line for the failure names the client it counted."""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import phone_browser, running_app

pytestmark = pytest.mark.browser

FORGED = "203.0.113.77"


@pytest.mark.parametrize(("proxies", "counted"), [("", "local"), ("127.0.0.1", FORGED)], ids=["default", "proxy"])
def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path, chromium_path, proxies, counted):
    data = tmp_path / "data"
    data.mkdir()
    env = {"FACEGATE_ADMIN_PASSWORD": "forwarded-admin-password", "FACEGATE_TRUSTED_PROXIES": proxies}
    with running_app(data, extra_env=env) as url, phone_browser(None, tmp_path / "profile") as page:
        page.context.set_extra_http_headers({"X-Forwarded-For": FORGED})
        page.goto(f"{url}/admin")
        page.get_by_label("管理者パスワード").fill("not the password")
        page.get_by_role("button", name="ログイン").click()
        log = tmp_path / f"streamlit-{url.rsplit(':', 1)[1]}.log"
        deadline = time.monotonic() + 30
        while "failed admin sign-in from" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.25)
        lines = [r for r in log.read_text(errors="replace").splitlines() if "failed admin sign-in from" in r]
    assert lines, "the failed sign-in was never logged"
    assert lines[-1].endswith(f"failed admin sign-in from {counted}"), lines[-1]
