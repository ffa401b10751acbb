"""Chart data from the hand-made history in conftest.fill: every number is known."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from core.analytics import queries as Q
from tests.analytics.conftest import T0


@pytest.fixture
def con(filled_store):
    c = filled_store.columnar()
    yield c
    c.close()


ALL = Q.AnalyticsFilter()


def test_kpis_count_captures_not_records(con):
    assert Q.kpis(con, ALL) == {
        "captures": 5,
        "identified": 3,
        "unknown": 2,
        "people": 2,
        "door_opens": 2,
        "sensor_readings": 15,
        "faces_analysed": 5,
        "unreadable": 0,
    }


def test_identification_by_day_and_people_per_day(con):
    by_day = Q.identification_by_day(con, ALL)
    assert [d.date() for d in by_day["day"]] == [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    assert by_day["captures"].tolist() == [2, 2, 1]
    assert by_day["identified"].tolist() == [2, 1, 0]
    assert by_day["success_rate"].tolist() == [1.0, 0.5, 0.0]
    assert by_day["unknown_rate"].tolist() == [0.0, 0.5, 1.0]
    assert Q.people_per_day(con, ALL)["people"].tolist() == [2, 1]


def test_weekday_hour_heat_map_uses_the_display_time_zone(con):
    utc = Q.weekday_hour(con, ALL)
    assert set(map(tuple, utc[["weekday", "hour", "captures"]].values.tolist())) == {
        (0, 9, 1),
        (0, 10, 1),
        (1, 10, 1),
        (1, 11, 1),
        (2, 9, 1),
    }
    japan = Q.weekday_hour(con, Q.AnalyticsFilter(utc_offset_minutes=540))
    assert (0, 18, 1) in set(map(tuple, japan[["weekday", "hour", "captures"]].values.tolist()))


def test_face_charts_gender_age_and_smile_instead_of_emotion(con):
    gender = Q.gender_counts(con, ALL)
    assert dict(zip(gender["gender"].fillna("n/a"), gender["faces"], strict=True)) == {"Male": 2, "Female": 2, "n/a": 1}
    age = Q.age_distribution(con, ALL)
    assert [(None if pd.isna(d) else int(d), n) for d, n in zip(age["decade"], age["faces"], strict=True)] == [
        (20, 2),
        (30, 1),
        (40, 1),
        (None, 1),
    ]
    source, mix = Q.emotion_mix(con, ALL)
    assert source == "smile"  # the course's analysis record has no emotion
    assert dict(zip(mix["label"].astype(object).where(mix["label"].notna(), None), mix["faces"], strict=True)) == {
        True: 2,
        False: 2,
        None: 1,
    }


def test_sensor_series_buckets_per_device(con):
    hourly = Q.sensor_series(con, ALL, "hour")
    one = hourly[hourly["device"] == "id001"]
    assert [t.hour for t in one["time"]] == [9, 10]
    assert one["readings"].tolist() == [6, 6]
    assert one["mean"].tolist() == [2.5, 8.5]
    two = hourly[hourly["device"] == "id002"]
    assert two["mean"].tolist() == [5.0]  # |(3, 4, 0)|: boards that send only axes
    minutes = Q.sensor_series(con, ALL, "minute")
    assert len(minutes[minutes["device"] == "id001"]) == 12


def test_device_filter_and_analysis_records_without_device(con):
    f = Q.AnalyticsFilter(devices=("id002",))
    assert Q.kpis(con, f)["captures"] == 2
    assert Q.kpis(con, f)["door_opens"] == 1
    # Analysis records carry no DeviceID: they stay; the one that names id001 goes.
    assert Q.gender_counts(con, f)["faces"].sum() == 4
    comparison = Q.device_comparison(con, ALL).set_index("device")
    assert comparison.loc["id001", "captures"] == 3 and comparison.loc["id002", "captures"] == 2
    assert comparison.loc["id001", "sensor_readings"] == 12 and comparison.loc["id002", "door_opens"] == 1


def test_person_filter_including_unknown_faces(con):
    taro = Q.AnalyticsFilter(people=("Taro",))
    assert Q.kpis(con, taro)["captures"] == 2
    assert Q.door_history(con, taro)[0] == 1
    assert Q.kpis(con, taro)["sensor_readings"] == 15  # sensors name no person
    unknown = Q.AnalyticsFilter(people=(Q.UNKNOWN,))
    total, rows = Q.auth_history(con, unknown)
    assert total == 2 and set(rows["picture"]) == {"cap3.jpg", "cap5.jpg"}


def test_date_range_is_whole_local_days(con):
    f = Q.filter_for_days(date(2026, 11, 3), date(2026, 11, 3), 0)
    assert Q.kpis(con, f)["captures"] == 2
    assert f.since == datetime(2026, 11, 3, tzinfo=T0.tzinfo)
    japan = Q.filter_for_days(date(2026, 11, 2), date(2026, 11, 2), 540)
    assert japan.since.hour == 15  # 00:00 JST is 15:00 UTC the day before
    assert Q.kpis(con, japan)["captures"] == 2  # 18:00 and 19:00 JST on the 2nd


def test_history_newest_first_and_csv(con):
    total, rows = Q.auth_history(con, ALL, limit=2)
    assert total == 6 and rows["picture"].tolist() == ["cap5.jpg", "cap4.jpg"]
    csv = Q.history_csv(con, "door", ALL).decode("utf-8-sig").splitlines()
    assert csv[0] == "time,device,person" and len(csv) == 3 and csv[1].endswith("id002,Hanako")


def test_empty_store_gives_empty_frames_not_errors(tmp_path):
    from core.events.local import LocalEventStore

    con = LocalEventStore(tmp_path / "e.db").columnar()
    assert Q.filter_options(con) == {
        "devices": [],
        "people": [],
        "first": None,
        "last": None,
        "future": 0,
        "no_time": 0,
    }
    data = Q.chart_data(con, ALL)
    assert data["kpis"]["captures"] == 0
    assert all(len(v) == 0 for k, v in data.items() if k not in ("kpis", "emotion", "auth_history", "door_history"))
    assert data["auth_history"][0] == 0
