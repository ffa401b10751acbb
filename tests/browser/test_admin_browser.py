"""An admin in a real browser: the sign-in survives a reload and ends with the sign-out; the
chart library is loaded ahead for an admin (so Analytics draws at once) and never for a viewer,
who cannot open the chart pages."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ADMIN_PASSWORD
from tests.browser.harness import wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOTLY_LOADED = (
    "() => performance.getEntriesByType('resource')"
    ".some(e => /\\/static\\/js\\/PlotlyChart\\.[^/]+\\.js$/.test(e.name))"
)


def test_plotly_is_preloaded_for_an_admin_only(app_url, phone):
    page = phone
    page.goto(f"{app_url}/admin")
    wait_idle(page)
    page.wait_for_timeout(4500)  # longer than the preload's idle timeout
    assert not page.evaluate(PLOTLY_LOADED), "a viewer's browser loaded the chart library"

    page.get_by_label("管理者パスワード").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.locator(".st-key-page_links").get_by_text("登録者").click()
    page.get_by_text("登録済みの人").wait_for()
    page.wait_for_function(PLOTLY_LOADED, timeout=15_000)
    assert page.locator(".js-plotly-plot").count() == 0  # loaded, nothing drawn on this page
    assert page.evaluate("window.__facegateChartsPreloaded === true")


def test_sign_in_survives_a_reload_and_sign_out_ends_it(app_url, phone):
    page = phone
    page.goto(f"{app_url}/admin")
    page.get_by_label("管理者パスワード").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.locator(".st-key-page_links").get_by_text("登録者").wait_for()
    wait_idle(page)
    cookie = [c for c in page.context.cookies() if c["name"] == "facegate_session"]
    assert cookie and cookie[0]["sameSite"] == "Strict" and cookie[0]["expires"] > 0

    page.goto(f"{app_url}/people")  # a reload: a new Streamlit session
    page.wait_for_url(re.compile(r".*/people$"))
    page.get_by_text("登録済みの人").wait_for()

    page.goto(f"{app_url}/admin")
    page.get_by_role("button", name="ログアウト").click()
    page.get_by_label("管理者パスワード").wait_for()
    wait_idle(page)
    page.goto(f"{app_url}/people")  # signed out: the admin pages are gone, even with the old cookie
    page.get_by_text("「登録者」は管理者だけが開けるページです。").wait_for()
    wait_idle(page)
    assert page.get_by_text("登録済みの人").count() == 0
    assert page.locator(".st-key-page_links").get_by_text("登録者").count() == 0
