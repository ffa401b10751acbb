"""The router's chrome in a real browser (issue 17 §8, §12):

- an admin page's URL opened without a sign-in (a bookmark, a session that ended) says "sign
  in" in the browser's language, with the sign-in right there, and after signing in the same
  URL shows the page; never Streamlit's English "Page not found";
- the 日本語 / English choice survives a reload on a browser that prefers the other language."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD
from tests.browser.harness import phone_browser, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_admin_url_without_sign_in_asks_to_sign_in_in_japanese(app_url, tmp_path):
    with phone_browser(None, tmp_path / "p") as page:
        page.goto(f"{app_url}/people")
        page.get_by_text("「登録者」は管理者だけが開けるページです。管理者としてサインインしてください").wait_for()
        wait_idle(page)
        assert page.url.endswith("/people")
        assert page.get_by_text("Page not found").count() == 0
        # Sign in right here; the same URL then shows the page.
        page.get_by_label("管理者パスワード").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.get_by_text("登録済みの人").wait_for()
        assert page.url.endswith("/people")

        # The sign-in ends (signed out in another tab): the bookmark asks again, in Japanese.
        other = page.context.new_page()
        other.goto(f"{app_url}/admin")
        other.get_by_role("button", name="ログアウト").click()
        other.get_by_label("管理者パスワード").wait_for()
        wait_idle(other)
        page.goto(f"{app_url}/history")
        page.get_by_text("「履歴」は管理者だけが開けるページです。").wait_for()
        wait_idle(page)
        assert page.get_by_text("Page not found").count() == 0


def test_an_admin_url_on_an_english_browser_says_it_in_english(app_url, tmp_path):
    with phone_browser(None, tmp_path / "p", locale="en-US") as page:
        page.goto(f"{app_url}/settings")
        page.get_by_text("“Settings” is for administrators. Please sign in as an administrator").wait_for()
        assert page.get_by_text("Page not found").count() == 0


def test_the_language_choice_survives_a_reload(app_url, tmp_path):
    with phone_browser(None, tmp_path / "p", locale="en-US") as page:
        page.goto(f"{app_url}/camera")
        expect(page.get_by_role("heading", name="Camera")).to_be_visible()
        page.get_by_text("日本語", exact=True).click()
        expect(page.get_by_role("heading", name="カメラ")).to_be_visible()
        wait_idle(page)
        page.reload()
        page.wait_for_url(re.compile(r".*/camera$"))
        expect(page.get_by_role("heading", name="カメラ")).to_be_visible()
        page.goto(f"{app_url}/logs")  # and on another page of a new visit
        expect(page.get_by_role("heading", name="ログ")).to_be_visible()
