"""The course's phone page logic in a real browser against the local Web API.

``course_page/phone_page.html`` keeps the methods of the course's AnalysisFaces.vue and
SearchFaces.vue line for line (what had to change, and why, is written at its top). Chromium
loads it, picks a photo through the file input as a learner would, and presses the buttons:
the page calls ``/prod/analyze`` and ``/prod/search`` across origins (CORS pre-flight
included) with the API key, and renders what the course's page renders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import to_jpeg

pytestmark = pytest.mark.browser
PAGE = Path(__file__).with_name("course_page") / "phone_page.html"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
COURSE_KEYS = ("AgeRange", "Gender", "Smile", "Eyeglasses", "Mustache", "Beard")


@pytest.fixture(scope="module")
def page(server, api_key):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            p = browser.new_page(viewport={"width": 390, "height": 844}, locale="ja-JP")
            p.set_default_timeout(60_000)
            p.goto(f"{PAGE.as_uri()}?api={server.url}&key={api_key}")
            yield p
        finally:
            browser.close()


def _run(page, photo: Path, button: str) -> dict:
    before = page.text_content("#done")
    page.set_input_files("#file", str(photo))
    page.wait_for_function("() => document.getElementById('done').textContent === 'loaded'")
    page.click(button)
    page.wait_for_function("(b) => !['loaded', b].includes(document.getElementById('done').textContent)", arg=before)
    return {
        "error": page.text_content("#errorMessage"),
        "noTarget": page.text_content("#noTarget"),
        "analysis": [[c.strip() for c in r.split("\t")] for r in page.inner_text("#analysis tbody").splitlines() if r],
        "match": page.inner_text("#match tbody").strip(),
    }


def test_a_photo_without_a_face_shows_the_courses_message(page, tmp_path, no_face_jpeg):
    photo = tmp_path / "wall.jpg"
    photo.write_bytes(no_face_jpeg)
    shown = _run(page, photo, "#analyze")
    assert shown["noTarget"] == "顔が認識できません" and shown["error"] == "" and shown["analysis"] == []


def test_a_face_shows_the_analysis_table(page, tmp_path, world):
    photo = tmp_path / "amy.jpg"
    photo.write_bytes(to_jpeg(world.people["amy"][1]))
    shown = _run(page, photo, "#analyze")
    detail = world.services.faces.detect_faces(Image={"Bytes": photo.read_bytes()}, Attributes=["ALL"])["FaceDetails"][
        0
    ]
    missing = [k for k in COURSE_KEYS if k not in detail]
    if missing:
        # What the course's page does with a FaceDetail that lacks them (issue 12 §2).
        assert "Cannot read properties of undefined (reading 'Value')" in shown["error"]
        pytest.xfail(f"issue 12 §2 (attributes helper): FaceDetail still lacks {missing}")
    assert shown["error"] == "" and shown["noTarget"] == ""
    rows = {r[0]: r[1:] for r in shown["analysis"]}
    assert list(rows) == ["年齢", "性別", "笑顔", "メガネ", "口ひげ", "あごひげ"]
    low, high = detail["AgeRange"]["Low"], detail["AgeRange"]["High"]
    assert rows["年齢"][0] == f"{low} 〜 {high} 歳"
    assert rows["性別"][0] in ("男性", "女性") and rows["性別"][1].endswith("%")
    for name in ("笑顔", "メガネ", "口ひげ", "あごひげ"):
        assert rows[name][0] in ("はい", "いいえ") and rows[name][1].endswith("%")


def test_search_shows_the_matched_person_or_the_courses_message(page, tmp_path, world):
    photo = tmp_path / "howard.jpg"
    photo.write_bytes(to_jpeg(world.people["howard"][2]))
    shown = _run(page, photo, "#search")
    assert shown["error"] == ""
    name, confidence = shown["match"].split("\t")
    assert name == "howard" and confidence.endswith("%") and float(confidence[:-1]) >= 80
    stranger = tmp_path / "penny.jpg"
    stranger.write_bytes(to_jpeg(world.people["penny"][2]))
    shown = _run(page, stranger, "#search")
    assert shown["noTarget"] == "人物を特定できませんでした" and shown["error"] == ""


def test_a_search_without_a_face_shows_the_error_as_the_course_page_does(page, tmp_path, no_face_jpeg):
    """The phone Lambda answers 421; axios rejects it and the course's page shows the error."""
    photo = tmp_path / "wall.jpg"
    photo.write_bytes(no_face_jpeg)
    shown = _run(page, photo, "#search")
    assert shown["error"] == "Error: Request failed with status code 421"
