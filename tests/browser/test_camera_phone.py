"""The camera page on a 390x844 phone, for a thumb (issue 17 §3, §7, §12):

- after the first visit the shutter is on the first screen (the privacy notice is folded,
  the status panel does not open by itself);
- after a tap the verdict (who, whether the door opened) is inside the first screen, beside
  the photo just taken, without scrolling;
- the camera widget speaks Japanese ("撮影する", "撮り直す", the permission prompt) and the
  time is the viewer's (Asia/Tokyo here, not UTC);
- "撮り直す" (Clear photo) also clears the result: the next person does not see it.

With FACEGATE_SCREENSHOTS=docs/img it saves the screenshots the docs show."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.app.conftest import jpeg
from tests.browser.harness import PHONE, SHUTTER, face_video, phone_browser, running_app, take_photo, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LIVE_VIDEO = "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.currentTime > 1)"


@pytest.fixture(scope="module")
def enrolled_app(tmp_path_factory, chromium_path, labelled):
    """The app with amy enrolled (by the operator, as ``python -m core faces`` would)."""
    from core.access import sessions
    from core.bootstrap import build_services
    from core.config import load_settings
    from core.usecases import people

    data = tmp_path_factory.mktemp("camera") / "data"
    data.mkdir()
    settings = load_settings(
        env={
            "FACEGATE_DATA_DIR": str(data),
            "FACEGATE_SECRETS_FILE": str(data / "none.toml"),
            "FACEGATE_PUBLISHER": "direct",
        }
    )
    services = build_services(settings)
    try:
        with sessions.operator(settings, "tests"):
            people.enrol_person(services, "amy", [(p.name, jpeg(p)) for p in labelled["amy"][:3]])
    finally:
        services.close()
    with running_app(data) as url:
        yield url


def _inside(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def _shot(page, name: str) -> None:
    """Screenshots for the docs, only when asked: FACEGATE_SCREENSHOTS=docs/img."""
    where = os.environ.get("FACEGATE_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / name), scale="css")


def test_shutter_and_verdict_fit_one_phone_screen(enrolled_app, faces_dir, tmp_path):
    video = face_video(faces_dir / "labelled" / "amy" / "1.png", tmp_path / "amy.y4m")
    with phone_browser(video, tmp_path / "profile", timezone="Asia/Tokyo") as page:
        page.goto(f"{enrolled_app}/camera")
        page.get_by_text("写真はこの FaceGate で顔の照合・分析に使われ").wait_for()  # said in full, once
        wait_idle(page)

        page.goto(f"{enrolled_app}/camera")  # the next visit: notice folded, camera first
        shutter = page.get_by_role("button", name=SHUTTER)
        shutter.wait_for()
        wait_idle(page)
        page.wait_for_function(LIVE_VIDEO)
        expect(page.get_by_text("写真の扱い（プライバシー）")).to_be_visible()
        expect(page.get_by_text("写真はこの FaceGate で顔の照合・分析に使われ")).to_be_hidden()
        assert shutter.inner_text().strip() == "📸 撮影する"
        _shot(page, "camera-phone.png")
        assert _inside(shutter.bounding_box()), shutter.bounding_box()
        assert page.get_by_text("Take Photo").count() == 0
        _shot(page, "camera-phone.png")

        take_photo(page)
        verdict = page.locator(".st-key-verdict")
        verdict.get_by_text("✅ amy さん").wait_for()
        expect(verdict.get_by_text(re.compile(r"ドアが開きました — amy さん · \d\d:\d\d:\d\d JST"))).to_have_count(1)
        wait_idle(page)
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == 0
        assert _inside(verdict.bounding_box()), verdict.bounding_box()
        _shot(page, "camera-phone-verdict.png")

        clear = page.get_by_role("button", name="撮り直す")
        assert page.get_by_text("Clear photo").count() == 0
        clear.click()
        wait_idle(page)
        expect(page.locator(".st-key-verdict")).to_have_count(0)
        expect(page.locator(".st-key-result_card")).to_have_count(0)
        expect(page.get_by_text("amy さん")).to_have_count(0)
        page.get_by_role("button", name=SHUTTER).wait_for()


def test_camera_permission_prompt_is_in_japanese(enrolled_app, tmp_path):
    with phone_browser(None, tmp_path / "profile", camera_allowed=False) as page:
        page.goto(f"{enrolled_app}/camera")
        page.get_by_text("このアプリがカメラを使う許可を求めています。").wait_for()
        assert page.get_by_text("This app would like to use your camera.").count() == 0
