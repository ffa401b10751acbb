"""A small, hand-made event history whose every chart value is known in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.events import records as R

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC = 18:00 in Japan


def _analysis(when, low, high, gender, smile, device=None):
    rec = R.analysis_log_records(
        when,
        [
            {
                "AgeRange": {"Low": low, "High": high} if low is not None else None,
                "Gender": {"Value": gender} if gender else None,
                "Smile": {"Value": smile} if smile is not None else None,
                "EyesOpen": {"Value": True},
                "MouthOpen": {"Value": False},
            }
        ],
    )[0]
    if device:
        rec["DeviceID"] = device  # a producer's extension; the course's record has none
    return rec


def fill(store) -> None:
    """Five captures on three days, two door openings, 15 sensor readings (see test_queries)."""

    def match(*names):
        return [{"Face": {"ExternalImageId": n}} for n in names]

    auth = (
        R.auth_log_records("id001", T0, "cap1.jpg", match("Taro"))
        + R.auth_log_records("id001", T0 + timedelta(hours=1), "cap2.jpg", match("Taro", "Hanako"))
        + R.auth_log_records("id002", T0 + timedelta(days=1, hours=1), "cap3.jpg", [])
        + R.auth_log_records("id002", T0 + timedelta(days=1, hours=2), "cap4.jpg", match("Hanako"))
        + R.auth_log_records("id001", T0 + timedelta(days=2), "cap5.jpg", [])
    )
    store.append("auth", auth, [f"a{i}" for i in range(len(auth))])
    door = [
        R.door_open_record("id001", T0, "Taro"),
        R.door_open_record("id002", T0 + timedelta(days=1, hours=2), "Hanako"),
    ]
    store.append("door", door, ["d0", "d1"])
    analysis = [
        _analysis(T0, 20, 28, "Male", True),
        _analysis(T0 + timedelta(hours=1), 30, 38, "Male", False),
        _analysis(T0 + timedelta(days=1, hours=1), 41, 49, "Female", True),
        _analysis(T0 + timedelta(days=1, hours=2), None, None, None, None),
        _analysis(T0 + timedelta(days=2), 22, 26, "Female", False, device="id001"),
    ]
    store.append("analysis", analysis, [f"n{i}" for i in range(5)])
    sensor = [R.sensor_record("id001", T0 + timedelta(minutes=10 * i), float(i)) for i in range(12)]
    sensor += [
        R.sensor_record("id002", T0 + timedelta(minutes=i), None, AccelX=3.0, AccelY=4.0, AccelZ=0.0) for i in range(3)
    ]
    store.append("sensor", sensor, [f"s{i}" for i in range(len(sensor))])


@pytest.fixture
def filled_store(tmp_path):
    from core.events.local import LocalEventStore

    store = LocalEventStore(tmp_path / "events.db")
    fill(store)
    return store
