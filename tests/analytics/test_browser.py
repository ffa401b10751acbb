"""The analytics page in the real app and a real phone-sized browser: charts drawn, no sideways
scrolling, and the sensor chart refreshing by itself while the page stays open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.events.demo import generate_demo_events
from core.events.local import LocalEventStore
from core.events.records import sensor_record
from tests.browser.harness import CHROMIUM, CHROMIUM_FLAGS, PHONE, horizontal_overflow, running_app, wait_idle

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "analytics-admin-password"


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (CI installs it in .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-US")
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            browser.close()


def test_analytics_on_a_phone_with_live_sensor_chart(tmp_path, browser_page):
    data = tmp_path / "data"
    store = LocalEventStore(data / "events" / "events.db")
    generate_demo_events(store, 3000, days=2, devices=2, seed=3)
    page = browser_page
    # Analytics is an admin page: a deep link goes through the router, which shows it only
    # to a signed-in admin.
    with running_app(data, extra_env={"FACEGATE_ADMIN_PASSWORD": ADMIN_PASSWORD}) as url:
        page.goto(f"{url}/admin")
        page.get_by_label("Administrator password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.locator(".st-key-page_links").get_by_text("Analytics").wait_for()
        wait_idle(page)
        page.wait_for_function("() => document.cookie.includes('facegate_session=')")
        page.goto(f"{url}/analytics")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4")
        wait_idle(page)
        assert page.get_by_text("Captures").first.is_visible()
        assert horizontal_overflow(page) == 0
        # A new device starts sending while the page is open: the chart picks it up by itself.
        now = datetime.now(UTC)
        store.append(
            "sensor",
            [sensor_record("id777", now - timedelta(seconds=s), 42.0) for s in range(3)],
            [f"live-{s}" for s in range(3)],
        )
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .legendtext')].some(e => e.textContent === 'id777')",
            timeout=30_000,
        )
