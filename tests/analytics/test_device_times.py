"""Dates from devices are not trusted (issue 13, item 6): a record dated 9999, 2099, 1970 or
nonsense neither breaks a page nor moves the default range away from today's data; retention
follows the time of receipt, never the device's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.events import records as R
from tests.analytics.test_pages import run_page, texts

ABSURD = ["9999-12-31T23:59:59Z", "2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "garbage", "", "0000-00-00"]


def _absurd_and_today(store, now: datetime) -> None:
    """Today: 3 door opens, 4 sensor readings, 2 captures. Plus one record of each kind per
    absurd date."""
    store.append(
        "door", [R.door_open_record("id001", now - timedelta(minutes=i), "Taro") for i in range(3)], ["d0", "d1", "d2"]
    )
    store.append(
        "sensor",
        [R.sensor_record("id001", now - timedelta(minutes=i), float(i)) for i in range(4)],
        [f"s{i}" for i in range(4)],
    )
    auth = R.auth_log_records("id001", now, "a.jpg", []) + R.auth_log_records("id001", now, "b.jpg", [])
    store.append("auth", auth, ["a0", "a1"])
    for i, when in enumerate(ABSURD):
        store.append("door", [{"DeviceID": "id001", "Datetime": when, "Person": "Mallory"}], [f"xd{i}"])
        store.append("sensor", [{"DeviceID": "id001", "Datetime": when, "Value": 1e9}], [f"xs{i}"])
        store.append(
            "auth",
            [{"DeviceID": "id001", "Datetime": when, "AuthenticationResult": True, "PictureName": f"x{i}.jpg"}],
            [f"xa{i}"],
        )
        store.append("analysis", [{"Datetime": when, "Gender": "Female"}], [f"xn{i}"])  # fmt: skip


@pytest.fixture
def absurd(services):
    _absurd_and_today(services.events, datetime.now(UTC))
    return services


def test_analytics_opens_on_todays_data_whatever_the_devices_clocks_say(absurd):
    at = run_page("analytics")  # raises on any exception (OverflowError was one)
    start, end = at.date_input(key="analytics_dates").value
    today = datetime.now(UTC).date()
    assert start <= today <= end and (end - start).days <= 7, (start, end)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Door opens"] == "3" and metrics["Sensor readings"] == "4" and metrics["Captures"] == "2"
    # Records whose time is in the future or unreadable are said, not hidden.
    shown = texts(at)
    assert "future" in shown and "unreadable" in shown, shown
    for label in ("Faces", "Identification", "Devices", "History"):
        at.session_state["analytics_tab"] = label
        at.run()
        assert not at.exception, (label, at.exception)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2099-01-01", "1970-01-01"])
def test_any_date_a_user_picks_gives_a_page_not_a_traceback(absurd, day):
    from datetime import date

    at = run_page("analytics")
    chosen = date.fromisoformat(day)
    at.date_input(key="analytics_dates").set_value((chosen, chosen)).run()
    assert not at.exception, at.exception
    for label in ("Faces", "Identification", "Devices", "History"):
        at.session_state["analytics_tab"] = label
        at.run()
        assert not at.exception, (label, at.exception)


def test_logs_page_shows_absurd_times_without_breaking(absurd):
    at = run_page("logs")
    assert not at.exception


def test_the_admins_logs_page_shows_every_kind_with_absurd_times(absurd, admin):
    """An admin's tail shows auth, door and analysis records too (a viewer's only sensors)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.analytics.test_pages import ROOT

    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "tests" / "app" / "router_entry.py"), default_timeout=90)
    at.session_state["lang"] = "en"
    at.session_state["facegate_session"] = admin.token  # through the router, as the app runs pages
    at.run()
    assert not at.exception, at.exception
    at.switch_page(str(ROOT / "pages" / "logs.py")).run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert {"auth", "door", "analysis", "sensor"} <= set(shown["kind"])
    assert any(str(t).startswith("9999-12-31") for t in shown["Datetime"])  # shown as sent, not raised on


def test_retention_purges_by_the_time_of_receipt_not_the_devices_clock(services):
    store = services.events
    now = datetime.now(UTC)
    old_ms = int((now - timedelta(days=400)).timestamp() * 1000)
    # Received 400 days ago, whatever they say: a board reset to 1970, one that says 2099, one
    # whose time is nonsense, and a well-behaved one.
    for i, when in enumerate(
        ["1970-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "garbage", (now - timedelta(days=400)).isoformat()]
    ):
        store.append("door", [{"DeviceID": "id001", "Datetime": when, "Person": "P"}], [f"old{i}"], received=[old_ms])
    # Received now: a board reset to 1970 must not lose today's logs at the next purge.
    store.append("door", [{"DeviceID": "id001", "Datetime": "1970-01-01T00:00:00Z", "Person": "Q"}], ["new1970"])
    store.append("door", [R.door_open_record("id001", now, "R")], ["new"])
    removed = store.purge_before(now - timedelta(days=365))
    assert removed == 4
    left = store.query("door", receipts=True)
    assert sorted(left["Person"]) == ["Q", "R"]
