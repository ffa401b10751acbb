"""An open page forgets a signed-out admin (issue 13 §8). The Logs page's live tail is a
fragment that refreshes itself every two seconds without passing through the router; it must
stop sending admin-only logs (auth and door records name people) the moment the admin signs
out in another tab, or the session's idle time runs out while the tab stays open.

What the browser receives is read off the wire: the tables are drawn on a canvas, but every
refresh arrives as a WebSocket message that holds the records' text (Arrow bytes)."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.browser.harness import phone_browser, running_app, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "tabs-admin-password"
VIEWER_NOTE = "管理者だけが使えます"  # the Logs page's note for a viewer (logs.admin_only)


def publish_door(data_dir, person: str) -> None:
    """A door-open record naming ``person``, stored the way the app stores one (no broker)."""
    import os

    from core.bootstrap import build_services
    from core.config import load_settings
    from core.events.records import door_open_record, utc_now

    saved = {k: os.environ.get(k) for k in ("FACEGATE_DATA_DIR", "FACEGATE_SECRETS_FILE", "FACEGATE_PUBLISHER")}
    os.environ.update(
        FACEGATE_DATA_DIR=str(data_dir),
        FACEGATE_SECRETS_FILE=str(data_dir / "none.toml"),
        FACEGATE_PUBLISHER="direct",
    )
    try:
        services = build_services(load_settings())
        try:
            services.publisher.publish("door", door_open_record("id001", utc_now(), person))
        finally:
            services.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Wire:
    """Every WebSocket message the page receives, from now on."""

    def __init__(self, page):
        self.frames: list[bytes] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._got))

    def _got(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

    def mark(self) -> int:
        return len(self.frames)

    def holds(self, text: str, since: int = 0) -> bool:
        return any(text.encode() in f for f in self.frames[since:])


def sign_in_and_watch_logs(page, url: str, wire: Wire) -> None:
    page.goto(f"{url}/admin")
    page.get_by_label("管理者パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.locator(".st-key-page_links").get_by_text("登録者").wait_for()
    wait_idle(page)
    # The sign-in cookie is written by a script at the end of the run: wait for it, so that
    # the new page (a new Streamlit session) is signed in through it.
    page.wait_for_function("() => document.cookie.includes('facegate_session=')")
    page.goto(f"{url}/logs")
    page.get_by_role("tab", name="テスト送信").wait_for()  # the admin's tabs
    # The tail (all topics, an admin's default) shows the door record already stored.
    deadline = time.monotonic() + 30
    while not wire.holds("Penny_Before") and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert wire.holds("Penny_Before"), "the admin's live tail never showed the stored door record"


def assert_no_admin_logs_from_now_on(page, data_dir, wire: Wire) -> None:
    """Whatever is logged from now on never reaches the tab, though it keeps refreshing."""
    since = wire.mark()
    publish_door(data_dir, "Penny_After")
    page.wait_for_timeout(8_000)  # four refreshes of the tail
    assert wire.mark() > since, "the tail stopped refreshing altogether"
    assert not wire.holds("Penny_After", since), "a signed-out tab received an admin-only door record"


def assert_tab_turned_viewer(page) -> None:
    """The tab, untouched, has become a viewer's Logs page by itself."""
    page.get_by_text(VIEWER_NOTE).wait_for(timeout=30_000)
    # The admin's tabs are stale elements of the run before until the viewer's run finishes
    # (Streamlit removes them at the run's end, seconds later on a loaded machine).
    page.get_by_role("tab", name="テスト送信").wait_for(state="detached", timeout=30_000)


@contextlib.contextmanager
def app_with_a_door_record(tmp_path, **env):
    data = tmp_path / "data"
    data.mkdir()
    publish_door(data, "Penny_Before")
    with running_app(
        data, extra_env={"FACEGATE_ADMIN_PASSWORD": PASSWORD, "FACEGATE_PUBLISHER": "direct", **env}
    ) as url:
        yield url, data


def test_sign_out_in_another_tab_stops_the_open_logs_tab(tmp_path, chromium_path):
    with app_with_a_door_record(tmp_path) as (url, data), phone_browser(None, tmp_path / "profile") as page:
        wire = Wire(page)
        sign_in_and_watch_logs(page, url, wire)

        other = page.context.new_page()  # a second tab of the same browser: the same sign-in
        other.goto(f"{url}/admin")
        other.get_by_role("button", name="ログアウト").click()
        other.get_by_label("管理者パスワード").wait_for()
        other.close()

        assert_no_admin_logs_from_now_on(page, data, wire)  # at once: the very next refresh
        assert_tab_turned_viewer(page)


def test_idle_expiry_stops_the_open_logs_tab(tmp_path, chromium_path):
    # The shortest idle time allowed; the tab's own refreshes do not count as use.
    with (
        app_with_a_door_record(tmp_path, FACEGATE_SESSION_IDLE_MINUTES="1") as (url, data),
        phone_browser(None, tmp_path / "profile") as page,
    ):
        wire = Wire(page)
        sign_in_and_watch_logs(page, url, wire)
        page.wait_for_timeout(50_000)  # nobody touches the tab
        assert_tab_turned_viewer(page)  # once the minute is over
        assert_no_admin_logs_from_now_on(page, data, wire)
