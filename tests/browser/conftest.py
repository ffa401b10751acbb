"""Real-browser fixtures: the app served by streamlit, Debian chromium with a fake camera."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.harness import CHROMIUM, face_video, phone_browser, running_app

# Assertions wait for the page to get there; on a loaded CI runner a Streamlit run can take
# far longer than playwright's 5 s default, and a slow run is not a failure.
expect.set_options(timeout=30_000)

ADMIN_PASSWORD = "browser-admin-password"


@pytest.fixture(scope="module")
def chromium_path():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium; .ci/run installs it)")
    return CHROMIUM


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, chromium_path):
    data = tmp_path_factory.mktemp("app") / "data"
    data.mkdir()
    # The operator's one-time admin password (core.access), hashed into the data dir on first use.
    with running_app(data, extra_env={"FACEGATE_ADMIN_PASSWORD": ADMIN_PASSWORD}) as url:
        yield url


@pytest.fixture
def phone(tmp_path, faces_dir, chromium_path):
    """A 390x844 chromium page (Japanese browser) whose camera shows amy's face."""
    video = face_video(faces_dir / "labelled" / "amy" / "1.png", tmp_path / "amy.y4m")
    with phone_browser(video, tmp_path / "profile") as page:
        yield page
