"""The rule engine on its own (no broker): replay after a crash, poisoned records, planned
analysis batches. The stores are the real local ones."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidParameter
from core.events.local import LocalEventStore
from core.events.records import analysis_log_records, door_open_record, sensor_record, utc_now
from core.objects.local import LocalObjectStore
from core.telemetry.broker import Inbound
from core.telemetry.engine import CURSOR, RuleEngine
from core.telemetry.journal import Journal
from core.telemetry.rules import course_rules
from core.telemetry.sensor_table import LocalSensorTable

BUCKET = "facegate-logs"


class RefusingEventStore(LocalEventStore):
    """The real store, except that it refuses records naming the person "poison" (as a store
    would refuse a value it cannot hold)."""

    def append(self, kind, records, ids, **receipt):
        if any(r.get("Person") == "poison" for r in records):
            raise InvalidParameter("cannot store this record")
        return super().append(kind, records, ids, **receipt)


@pytest.fixture
def world(tmp_path):
    def make(events_cls=LocalEventStore, **kw):
        journal = Journal(tmp_path / "journal.db")
        events = events_cls(tmp_path / "events.db")
        objects = LocalObjectStore(tmp_path / "objects")
        table = LocalSensorTable(tmp_path / "tables.db")
        engine = RuleEngine(
            journal,
            course_rules("handson", BUCKET),
            prefix="handson",
            events=events,
            objects=objects,
            table=table,
            table_name="facegate-sensor",
            **kw,
        )
        return journal, engine, events, objects, table

    return make


def _msg(kind_topic: str, record: dict, msg_id: str) -> Inbound:
    return Inbound(f"handson/{kind_topic}", json.dumps(record).encode(), "id001-t", msg_id)


def test_replaying_a_batch_after_a_crash_stores_nothing_twice(world):
    journal, engine, events, objects, table = world()
    now = utc_now()
    journal.append(
        [_msg("doorOpenLogData", door_open_record("id001", now, f"P{i}"), f"d{i}") for i in range(5)]
        + [
            _msg("sensorLogData", sensor_record("id001", now, float(i)) | {"Datetime": f"2026-04-01T0{i}:00Z"}, f"s{i}")
            for i in range(5)
        ]
        + [_msg("analysisLogData", analysis_log_records(now, [{}])[0], f"a{i}") for i in range(3)]
    )
    assert engine.process_available() == 13
    # A kill -9 after the actions but before the cursor moved: the same batch runs again.
    with journal._conn() as con:
        con.execute("UPDATE cursor SET seq = 0 WHERE name = ?", (CURSOR,))
    assert engine.process_available() == 13
    engine.flush_streams(force=True)
    assert events.count("door") == 5 and events.count("sensor") == 5 and events.count("analysis") == 3
    assert len([o for o in objects.list_objects(BUCKET) if o.key.endswith("door-open-log-data.json")]) == 5
    assert table.count("facegate-sensor") == 5
    (batch,) = objects.list_objects(BUCKET, "analysis/")
    assert len(objects.get_object(BUCKET, batch.key).splitlines()) == 3


def test_a_record_the_store_refuses_is_an_error_and_the_rest_is_stored(world):
    journal, engine, events, objects, _ = world(RefusingEventStore)
    now = utc_now()
    journal.append(
        [
            _msg("doorOpenLogData", door_open_record("id001", now, name), f"m{i}")
            for i, name in enumerate(["Taro", "poison", "Hanako"])
        ]
    )
    assert engine.process_available() == 3
    assert sorted(events.query("door")["Person"]) == ["Hanako", "Taro"]
    (error,) = journal.errors()
    assert "refused" in error["reason"] and error["msg_id"] == "m1"
    assert engine.process_available() == 0  # the cursor moved on: the engine is not stuck


def test_json_that_no_store_can_hold_is_refused_and_big_numbers_are_kept_as_sent(world):
    journal, engine, events, _, _ = world()
    journal.append(
        [
            Inbound("handson/sensorLogData", b'{"DeviceID": "id001", "Datetime": "t", "Value": NaN}', "id001-t", "x1"),
            Inbound("handson/analysisLogData", b'{"Datetime": "t", "AgeRange-Low": 100000000000000000000}', "d", "x2"),
        ]
    )
    engine.process_available()
    (error,) = journal.errors()
    assert "not JSON" in error["reason"] and error["msg_id"] == "x1"
    stored = events.query("analysis")
    assert stored["AgeRange-Low"].tolist() == [100000000000000000000]  # as sent; no column could hold it


def test_a_planned_analysis_batch_is_finished_unchanged_after_a_crash(world):
    journal, engine, _, objects, _ = world()
    journal.append([_msg("analysisLogData", analysis_log_records(utc_now(), [{}])[0], f"a{i}") for i in range(4)])
    engine.process_available()
    # The crash: the batch and its key were planned, the object not yet written.
    planned = journal.plan_batch("analysis", 5 * 1024 * 1024, BUCKET, lambda f, last: f"analysis/planned-{f}-{last}")
    assert objects.list_objects(BUCKET, "analysis/") == []
    journal.append([_msg("analysisLogData", analysis_log_records(utc_now(), [{}])[0], "late")])
    _, restarted, _, objects, _ = world()
    restarted.recover()
    restarted.process_available()
    restarted.flush_streams(force=True)
    keys = [o.key for o in objects.list_objects(BUCKET, "analysis/")]
    planned_key = f"analysis/planned-{planned[0]}-{planned[1]}"
    assert planned_key in keys and len(objects.get_object(BUCKET, planned_key).splitlines()) == 4
    lines = [line for k in keys for line in objects.get_object(BUCKET, k).splitlines()]
    assert len(lines) == 5  # four in the planned object, the late one in the next; none twice


def test_the_journal_forgets_processed_messages_after_its_retention(world):
    journal, engine, events, _, _ = world()
    journal.append([_msg("doorOpenLogData", door_open_record("id001", utc_now(), "Taro"), "old")])
    journal.append([_msg("analysisLogData", analysis_log_records(utc_now(), [{}])[0], "buffered")])
    journal.append([_msg("doorOpenLogData", door_open_record("id001", utc_now(), "Hanako"), "unprocessed")])
    with journal._conn() as con:
        con.execute("UPDATE journal SET ts_ms = 1000")  # received long ago
    engine.batch_size = 2
    engine.process_available()  # "old" and "buffered" processed; "unprocessed" not yet
    assert journal.prune(before_ms=2000) == 1  # only the processed, unbuffered one
    assert [e.msg_id for e in journal.after(0, 10)] == ["buffered", "unprocessed"]
    engine.process_available()
    assert events.count("door") == 2
