"""The local event store: idempotent durable appends, queries, the columnar copy, and
safety with a writer and readers in other processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.errors import InvalidParameter
from core.events import records as R
from core.events.columnar import ColumnarMirror
from core.events.local import LocalEventStore

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def store(tmp_path):
    return LocalEventStore(tmp_path / "events" / "events.db")


def test_append_is_idempotent_by_id_and_query_returns_course_fields(store):
    rows = R.auth_log_records("id001", T0, "image01_20261102090000.jpg", [{"Face": {"ExternalImageId": "Taro"}}])
    assert store.append("auth", rows, ["m1"]) == 1
    assert store.append("auth", rows, ["m1"]) == 0  # QoS 1 redelivery
    unmatched = R.auth_log_records("id002", T0 + timedelta(minutes=1), "image02.jpg", [])
    assert store.append("auth", unmatched, ["m2"]) == 1
    df = store.query("auth")
    assert list(df.columns) == ["Datetime", "DeviceID", "AuthenticationResult", "PictureName", "Person"]
    assert df["Person"].tolist()[0] == "Taro" and pd.isna(df["Person"].tolist()[1])
    assert df["AuthenticationResult"].tolist() == [True, False]
    assert df["Datetime"].tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(minutes=1))]
    assert str(df["Datetime"].dt.tz) == "UTC"


def test_query_filters_device_time_and_limit_newest(store):
    recs = [R.sensor_record(f"id00{i % 2 + 1}", T0 + timedelta(minutes=i), value=float(i)) for i in range(10)]
    store.append("sensor", recs, [f"s{i}" for i in range(10)])
    assert store.query("sensor", device="id001")["Value"].tolist() == [0, 2, 4, 6, 8]
    got = store.query("sensor", since=T0 + timedelta(minutes=3), until="2026-11-02T09:06:00Z")
    assert got["Value"].tolist() == [3, 4, 5]
    assert store.query("sensor", limit=3)["Value"].tolist() == [7, 8, 9]  # newest three, oldest first
    assert "AccelX" not in store.query("sensor").columns  # optional fields nobody sent are not invented


def test_warming_the_columnar_copy_in_the_background(store):
    store.append("door", [R.door_open_record("id001", T0, "Taro")], ["d"])
    store.warm_columnar().join(timeout=30)
    store.append("door", [R.door_open_record("id001", T0, "Hanako")], ["e"])
    assert store.columnar().execute("SELECT list(person ORDER BY seq) FROM door").fetchone()[0] == ["Taro", "Hanako"]


def test_bad_input_is_a_domain_error_and_odd_fields_are_kept(store):
    with pytest.raises(InvalidParameter):
        store.append("weather", [{}], ["x"])
    with pytest.raises(InvalidParameter):
        store.append("auth", [{}], [])
    with pytest.raises(InvalidParameter):
        store.append("auth", ["not a dict"], ["x"])
    with pytest.raises(InvalidParameter):
        store.query("sensor", since="not a time")
    odd = {"DeviceID": "id001", "Datetime": "yesterday-ish", "Value": "high", "MagX": 1.5}
    store.append("sensor", [odd], ["odd"])
    row = store.query("sensor").iloc[0]
    assert row["Value"] == "high" and row["MagX"] == 1.5 and row["RawDatetime"] == "yesterday-ish"
    assert pd.isna(row["Datetime"])


def test_columnar_copy_matches_journal_across_sealed_segments(tmp_path):
    store = LocalEventStore(tmp_path / "events.db")
    mirror = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7)
    recs = [R.door_open_record("id001", T0 + timedelta(seconds=i), f"P{i % 3}") for i in range(30)]
    for lo in range(0, 30, 4):  # several appends, crossing segment boundaries
        store.append("door", recs[lo : lo + 4], [f"d{i}" for i in range(lo, min(lo + 4, 30))])
        con = mirror.cursor()
        assert con.execute("SELECT count(*) FROM door").fetchone()[0] == min(lo + 4, 30)
    segments = sorted(p.name for p in (tmp_path / "columnar").glob("door-*.parquet"))
    assert segments == [f"door-v2-{7 * k:012d}-{7 * k + 7:012d}.parquet" for k in range(4)]  # 28 sealed, 2 in the tail
    con = mirror.cursor()
    assert con.execute("SELECT count(DISTINCT seq), min(ts), max(ts) FROM door").fetchone() == (
        30,
        T0.replace(tzinfo=None),
        (T0 + timedelta(seconds=29)).replace(tzinfo=None),
    )
    # A second process (here: a fresh mirror) reuses the sealed files and reads only the tail.
    again = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7).cursor()
    assert again.execute("SELECT count(*) FROM door").fetchone()[0] == 30
    # Segments are a cache: deleting them loses nothing.
    for p in (tmp_path / "columnar").glob("*.parquet"):
        p.unlink()
    fresh = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7).cursor()
    assert fresh.execute("SELECT count(*), count(DISTINCT person) FROM door").fetchone() == (30, 3)


def test_a_segment_that_cannot_be_read_is_dropped_and_the_copy_rebuilt_from_the_journal(tmp_path):
    """Segments are a cache: a damaged one (a disk error, a file cut short) costs its rebuild
    from the journal, not the Analytics page (issue 13 §5)."""
    store = LocalEventStore(tmp_path / "events.db")
    recs = [R.door_open_record("id001", T0 + timedelta(seconds=i), f"P{i % 3}") for i in range(30)]
    store.append("door", recs, [f"d{i}" for i in range(30)])
    ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7).cursor().close()
    damaged = tmp_path / "columnar" / f"door-v2-{0:012d}-{7:012d}.parquet"
    damaged.write_bytes(b"PAR1" + b"\0" * 100)  # not Parquet any more
    con = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7).cursor()
    assert con.execute("SELECT count(DISTINCT seq), count(DISTINCT person) FROM door").fetchone() == (30, 3)
    assert damaged.read_bytes()[-4:] == b"PAR1"  # written again, whole


def test_a_segment_that_cannot_be_written_leaves_the_copy_usable(tmp_path):
    """Sealing writes Parquet next to the journal; when that fails (no space, the folder gone)
    the rows stay in memory, queries answer, and sealing is tried again later."""
    store = LocalEventStore(tmp_path / "events.db")
    mirror = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=7)
    (tmp_path / "columnar").rmdir()
    (tmp_path / "columnar").write_text("a file where the segments folder was")
    recs = [R.door_open_record("id001", T0 + timedelta(seconds=i), f"P{i % 3}") for i in range(30)]
    store.append("door", recs, [f"d{i}" for i in range(30)])
    con = mirror.cursor()
    assert con.execute("SELECT count(*) FROM door").fetchone()[0] == 30
    store.append("door", [R.door_open_record("id001", T0, "Q")], ["d30"])
    assert mirror.cursor().execute("SELECT count(*) FROM door").fetchone()[0] == 31


def test_small_segments_are_compacted_and_still_load_whole(tmp_path):
    store = LocalEventStore(tmp_path / "events.db")
    mirror = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=2)
    for lo in range(0, 50, 5):
        recs = [R.sensor_record("id001", T0 + timedelta(seconds=i), float(i)) for i in range(lo, lo + 5)]
        store.append("sensor", recs, [f"s{i}" for i in range(lo, lo + 5)])
        mirror.cursor()
    names = sorted(p.name for p in (tmp_path / "columnar").glob("*.parquet"))
    # 24 sealed segments of 2 rows: 0-20 and 20-40 merged, 40-48 still small, 49-50 in the tail.
    assert names == [
        "sensor-v2-000000000000-000000000020.parquet",
        "sensor-v2-000000000020-000000000040.parquet",
        *[f"sensor-v2-{lo:012d}-{lo + 2:012d}.parquet" for lo in range(40, 48, 2)],
    ]
    fresh = ColumnarMirror(store.path, tmp_path / "columnar", segment_rows=2).cursor()
    assert fresh.execute("SELECT count(*), count(DISTINCT seq), sum(value) FROM sensor").fetchone() == (
        50,
        50,
        float(sum(range(50))),
    )


WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from core.events.local import LocalEventStore
    from core.events.records import sensor_record
    store = LocalEventStore(sys.argv[1])
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    batch = int(sys.argv[2])
    for b in range(int(sys.argv[3])):
        recs = [sensor_record("id001", t0 + timedelta(seconds=b * batch + i), float(i)) for i in range(batch)]
        store.append("sensor", recs, [f"w{b}-{i}" for i in range(batch)])
        print(b, flush=True)
""")


def _writer(path, batch, batches):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(batch), str(batches)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_reader_process_sees_only_whole_batches_while_another_process_writes(tmp_path):
    path = tmp_path / "events.db"
    store = LocalEventStore(path)
    writer = _writer(path, 200, 25)
    seen = []
    try:
        while writer.poll() is None:
            n = store.count("sensor")
            assert n % 200 == 0  # a transaction is all or nothing for readers
            seen.append(n)
            con = store.columnar()
            assert con.execute("SELECT count(*) FROM sensor").fetchone()[0] % 200 == 0
            con.close()
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert store.count("sensor") == 5000
    assert store.columnar().execute("SELECT count(*) FROM sensor").fetchone()[0] == 5000


def test_kill_9_mid_write_leaves_whole_batches_and_a_usable_store(tmp_path):
    path = tmp_path / "events.db"
    LocalEventStore(path)
    writer = _writer(path, 500, 10_000)
    # Wait until a few batches are committed, then kill without warning.
    for _ in range(3):
        assert writer.stdout.readline()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    store = LocalEventStore(path)
    n = store.count("sensor")
    assert n >= 1500 and n % 500 == 0
    # And it keeps working: the next append lands.
    assert store.append("sensor", [R.sensor_record("id009", T0, 1.0)], ["after-crash"]) == 1
    time.sleep(0)  # nothing to wait for: the append was durable on return
    assert store.count("sensor") == n + 1


def test_a_replaced_journal_never_reuses_old_segments(tmp_path):
    path = tmp_path / "events" / "events.db"
    first = LocalEventStore(path, segment_rows=1)
    first.append("door", [R.door_open_record("id001", T0, "Old")] * 3, ["a", "b", "c"])
    assert first.seal() == 2  # seq 1 and 2 sealed; 3 stays in the journal's tail
    for suffix in ("", "-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            p.unlink()
    second = LocalEventStore(path, segment_rows=1)
    second.append("door", [R.door_open_record("id001", T0, "New")] * 3, ["a", "b", "c"])
    con = second.columnar()
    assert con.execute("SELECT list(person ORDER BY seq) FROM door").fetchone()[0] == ["New"] * 3
