"""The chart library is loaded ahead for an admin (so Analytics draws at once) and never for a
viewer, who cannot open the chart pages."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ADMIN_PASSWORD
from tests.browser.harness import wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOTLY_LOADED = ("() => performance.getEntriesByType('resource')"
                 ".some(e => /\\/static\\/js\\/PlotlyChart\\.[^/]+\\.js$/.test(e.name))")


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
