"""Stored events read back the same from the local store and from where the aws world's
IoT rules write them (DynamoDB sensor table, S3 log objects; moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from core.events.records import auth_log_records, door_open_record, sensor_record

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_sensor_readings_come_back_per_device_in_time_order(world):
    records = [
        sensor_record(dev, START + timedelta(seconds=i), value=float(i)) for i in range(6) for dev in ("id001", "id002")
    ]
    world.services.events.append("sensor", records[::-1], [f"s{i}" for i in range(len(records))])
    df = world.services.events.query("sensor", device="id001")
    assert list(df["Value"]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert set(df["DeviceID"]) == {"id001"}
    assert isinstance(df["Datetime"].dtype, pd.DatetimeTZDtype)
    window = world.services.events.query(
        "sensor", device="id002", since=START + timedelta(seconds=2), until=START + timedelta(seconds=4)
    )
    assert list(window["Value"]) == [2.0, 3.0]


def test_auth_and_door_logs_keep_the_courses_fields(world):
    matches = [{"Similarity": 99.0, "Face": {"ExternalImageId": "Taro_Yamada"}}]
    auth = auth_log_records("id001", START, "image01_20260301090000.jpg", matches) + auth_log_records(
        "id001", START + timedelta(minutes=1), "image02_20260301090100.jpg", []
    )
    world.services.events.append("auth", auth, ["a1", "a2"])
    world.services.events.append("door", [door_open_record("id001", START, "Taro_Yamada")], ["d1"])
    df = world.services.events.query("auth")
    assert list(df["AuthenticationResult"]) == [True, False]
    assert df["Person"].iloc[0] == "Taro_Yamada" and pd.isna(df["Person"].iloc[1])
    assert list(df["PictureName"]) == ["image01_20260301090000.jpg", "image02_20260301090100.jpg"]
    door = world.services.events.query("door")
    assert list(door["Person"]) == ["Taro_Yamada"] and list(door["DeviceID"]) == ["id001"]
