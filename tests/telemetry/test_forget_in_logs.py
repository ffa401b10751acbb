"""Forgetting a person takes their name out of the logs too: the event store and its columnar
copy, the broker's journal and the rules' log objects — checked on the bytes on disk."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.events.local import LocalEventStore
from core.events.records import auth_log_records, door_open_record, sensor_record
from core.usecases import retention

from .conftest import settle

pytestmark = pytest.mark.broker


def _disk_holds(data_dir: Path, needle: bytes) -> list[str]:
    return sorted(
        str(p.relative_to(data_dir)) for p in Path(data_dir).rglob("*") if p.is_file() and needle in p.read_bytes()
    )


def _matches(name: str) -> list[dict]:
    return [{"Face": {"ExternalImageId": name}, "Similarity": 99.0}]


def test_forget_person_removes_the_name_from_every_log(tele_settings, stack, make_publisher, admin):
    from core.bootstrap import build_services

    pub = make_publisher()
    now = datetime.now(UTC)
    for i, name in enumerate(["Amy_Lee", "Howard_Ito", "Amy_Lee"]):
        for record in auth_log_records("id001", now, f"cam_{i}.jpg", _matches(name)):
            pub.publish("auth", record)
        pub.publish("door", door_open_record("id001", now, name))
    pub.publish("auth", auth_log_records("id001", now, "cam_9.jpg", [])[0])  # nobody matched
    pub.publish("sensor", sensor_record("id001", now, 12.0))
    assert pub.wait_drained(timeout=20)
    settle(stack)

    services = build_services(dataclasses.replace(tele_settings, publisher="direct"))
    try:
        con = services.events.columnar()  # the analytics copy exists before the forgetting
        assert con.execute("SELECT count(*) FROM auth WHERE person = 'Amy_Lee'").fetchone()[0] == 2
        con.close()
        assert _disk_holds(tele_settings.data_dir, b'"Amy_Lee"')  # journal, events, log objects

        counts = retention.forget_person(services, "Amy_Lee")

        # 2 auth + 2 door records in each of: the event store, the log objects, the journal.
        assert counts["log_records"] == 12, counts
        con = services.events.columnar()
        assert con.execute("SELECT count(*) FROM auth WHERE person = 'Amy_Lee'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM auth").fetchone()[0] == 2  # Howard + the unknown face
        con.close()
        assert list(services.events.query("door")["Person"]) == ["Howard_Ito"]
        assert len(services.events.query("sensor")) == 1
        logs = [o.key for o in services.objects.list_objects(tele_settings.logs_bucket)]
        assert sum(k.endswith("-door-open-log-data.json") for k in logs) == 1
        assert sum(k.endswith("-auth-log-data.json") for k in logs) == 2
        assert not [m for m in services.telemetry.recent(None, 100) if "Amy_Lee" in m["payload"]]
        # Not in any file: the databases' freed pages and WALs were overwritten too.
        assert _disk_holds(tele_settings.data_dir, b"Amy_Lee") == []
        assert _disk_holds(tele_settings.data_dir, b'"Howard_Ito"')
    finally:
        services.close()


def test_a_forgotten_person_leaves_sealed_parquet_segments_and_other_processes_copies(tmp_path):
    store = LocalEventStore(tmp_path / "events" / "events.db", segment_rows=10)
    other_process = LocalEventStore(tmp_path / "events" / "events.db", segment_rows=10)
    when = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    records = [
        r
        for i in range(40)
        for r in auth_log_records("id001", when, f"c{i}.jpg", _matches("Amy_Lee" if i % 4 == 0 else "Bo"))
    ]
    store.append("auth", records, [f"m{i}" for i in range(len(records))])
    assert store.seal() >= 3  # sealed Parquet segments now hold Amy's rows
    con = other_process.columnar()
    assert con.execute("SELECT count(*) FROM auth WHERE person = 'Amy_Lee'").fetchone()[0] == 10
    con.close()

    assert store.forget_person("Amy_Lee") == 10

    con = other_process.columnar()  # a copy loaded before the forgetting is rebuilt
    assert con.execute("SELECT count(*) FROM auth WHERE person = 'Amy_Lee'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM auth").fetchone()[0] == 30
    con.close()
    assert _disk_holds(tmp_path, b"Amy_Lee") == []
    assert store.forget_person("Amy_Lee") == 0
