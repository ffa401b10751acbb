"""The status line tells the truth over many page loads: one MQTT connection per app process,
also after the settings change (issue 17 §4: a new threshold built a second publisher with the
same client id, the broker switched between the two, the line flapped and the broker's
connection count climbed with every page)."""

from __future__ import annotations

import json

import pytest

from tests.browser.harness import phone_browser, running_app, wait_idle
from tests.telemetry.conftest import StackRunner, free_port

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]


def test_connections_stay_flat_and_health_stays_true_over_page_loads(settings, tmp_path, chromium_path):
    import dataclasses

    from core.telemetry.local import read_broker_status

    tele = dataclasses.replace(settings, mqtt_port=free_port())
    runner = StackRunner(tele)
    runner.start()
    try:
        env = {"FACEGATE_PUBLISHER": "mqtt", "FACEGATE_MQTT_PORT": str(tele.mqtt_port)}
        with running_app(settings.data_dir, extra_env=env) as url, phone_browser(None, tmp_path / "p") as page:

            def broker() -> dict:
                return read_broker_status(tele)["broker"]

            def load() -> str:
                page.goto(f"{url}/camera")
                summary = page.locator("[data-testid='stExpander'] summary").first
                summary.wait_for()
                wait_idle(page)
                return summary.inner_text()

            assert "正常" in load()
            before = broker()["connections_total"]
            # What the settings page saves (a new threshold): the next run builds new services.
            (settings.data_dir / "settings.json").write_text(json.dumps({"match_threshold": 70.0}))
            lines = [load() for _ in range(10)]
            page.wait_for_timeout(3000)  # a take-over ping-pong would reconnect within this
            lines.append(load())
            after = broker()
            assert all("正常" in line and "🟢" in line for line in lines), lines
            assert after["connections_total"] == before, (before, after)
            # One connection, as the thing itself (the broker accepts no other client id).
            assert after["clients"].count("id001") == 1, after["clients"]
    finally:
        runner.stop()
