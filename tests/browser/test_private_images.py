"""Biometric images are not served at URLs (issue 13 §15). ``st.image`` put each face
thumbnail of the People page behind Streamlit's media file manager, at a ``/media/<hash>.jpg``
URL that answered anyone, with no session, and after the admin signed out. The People page now
shows them inline (pages._shared.private_image): the browser receives them only inside the
signed-in admin's own page, and there is no URL to fetch afterwards.

A real browser signs in, opens People (one enrolled person), and records every /media request;
after signing out, each recorded URL is fetched without the browser: all must be refused."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.browser.harness import phone_browser, running_app, wait_idle

pytestmark = pytest.mark.browser

PASSWORD = "private-images-password"


def enrol(data_dir, image: bytes) -> None:
    import os

    from core.access import sessions
    from core.bootstrap import build_services
    from core.config import load_settings
    from core.usecases import people

    env = {
        **os.environ,
        "FACEGATE_DATA_DIR": str(data_dir),
        "FACEGATE_SECRETS_FILE": str(data_dir / "none.toml"),
        "FACEGATE_PUBLISHER": "direct",
    }
    settings = load_settings(env=env)
    services = build_services(settings)
    try:
        with sessions.operator(settings, "tests"):
            outcomes = people.enrol_person(services, "Amy_Farrah", [("amy.png", image)])
        assert outcomes[0].indexed
    finally:
        services.close()


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_face_thumbnails_have_no_url_to_fetch_after_sign_out(tmp_path, chromium_path, labelled):
    data = tmp_path / "data"
    data.mkdir()
    enrol(data, labelled["amy"][0].read_bytes())
    env = {"FACEGATE_ADMIN_PASSWORD": PASSWORD, "FACEGATE_PUBLISHER": "direct"}
    with running_app(data, extra_env=env) as url, phone_browser(None, tmp_path / "profile") as page:
        media: list[str] = []
        page.on("request", lambda r: media.append(r.url) if urlsplit(r.url).path.startswith("/media/") else None)
        page.goto(f"{url}/admin")
        page.get_by_label("管理者パスワード").fill(PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.locator(".st-key-page_links").get_by_text("登録者").click()
        page.get_by_text("Amy_Farrah").first.wait_for(timeout=60_000)
        wait_idle(page)
        # The thumbnail is on the page, inline.
        inline = page.locator('img[src^="data:image/"]')
        inline.first.wait_for(timeout=30_000)
        assert inline.first.evaluate("img => img.naturalWidth > 0")
        page.goto(f"{url}/admin")
        page.get_by_role("button", name="ログアウト").click()
        page.get_by_label("管理者パスワード").wait_for()
        refused = {u: fetch_status(u) for u in media}
    assert all(status != 200 for status in refused.values()), f"face images served after sign-out: {refused}"
