"""The phone-sensor component in a real Chromium at 390x844: motion events become
sensorLogData records; a PC without sensors is told so and can use the labelled simulation."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.browser.harness import CHROMIUM, horizontal_overflow, phone_browser, running_app, wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture
def video(tmp_path):
    from tests.browser.harness import face_video

    img = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(img)
    return face_video(img, tmp_path / "grey.y4m", frames=2)


def _store(data_dir):
    from core.events.local import LocalEventStore

    return LocalEventStore(data_dir / "events" / "events.db")


def test_phone_sensors_publish_motion_and_offer_a_labelled_simulation(tmp_path, video):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (CI installs it)")
    data = tmp_path / "data"
    data.mkdir()
    with (
        running_app(data, {"FACEGATE_PUBLISHER": "direct", "FACEGATE_LANGUAGE": "en"}) as url,
        phone_browser(video, tmp_path / "profile", locale="en-US") as page,
    ):
        page.goto(f"{url}/logs")
        wait_idle(page)
        page.get_by_role("tab", name="Phone sensors").click()
        frame = page.frame_locator("iframe[title*='phone_sensors']")
        frame.get_by_role("button", name="Start").click()
        # Headless Chromium has no motion sensors: after a moment the component says so.
        frame.get_by_text("no motion sensors").wait_for(state="visible", timeout=15_000)
        assert horizontal_overflow(page) == 0

        # A real devicemotion event (what a phone fires) is read and published.
        frame.locator("body").evaluate("""() => window.dispatchEvent(new DeviceMotionEvent('devicemotion', {
            accelerationIncludingGravity: {x: 0.5, y: -0.25, z: 9.75},
            rotationRate: {alpha: 3, beta: 1, gamma: 2}, interval: 16}))""")
        store = _store(data)
        deadline = page.evaluate("Date.now()") + 20_000
        while store.count("sensor") == 0 and page.evaluate("Date.now()") < deadline:
            page.wait_for_timeout(250)
        real = store.query("sensor")
        assert len(real) > 0
        row = real.iloc[0]
        assert (row["AccelX"], row["AccelY"], row["AccelZ"]) == (0.5, -0.25, 9.75)
        assert (row["GyroX"], row["GyroY"], row["GyroZ"]) == (1.0, 2.0, 3.0)
        assert row["DeviceID"] == "id001" and abs(row["Value"] - 9.766) < 0.01

        frame.get_by_role("button", name="Stop").click()
        n_real = store.count("sensor")
        frame.get_by_label("SIMULATED").check()
        frame.get_by_role("button", name="Start").click()
        deadline = page.evaluate("Date.now()") + 20_000
        while store.count("sensor") <= n_real + 1 and page.evaluate("Date.now()") < deadline:
            page.wait_for_timeout(250)
        sim = store.query("sensor")
        assert "Simulated" in sim.columns and sim["Simulated"].fillna(False).astype(bool).sum() >= 1
        frame.get_by_role("button", name="Stop").click()
