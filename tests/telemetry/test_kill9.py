"""kill -9 in the middle of a stream: of the broker + rule engine process, and of the app.

Nothing acknowledged is lost (the publisher had returned from ``publish``), nothing is
stored twice, and every object the stores list is whole."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.events.records import analysis_log_records, auth_log_records, sensor_record
from core.telemetry.sensor_table import LocalSensorTable

from .conftest import settle, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 4, 1, 9, 0, 0, tzinfo=UTC)


def _env(settings, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "FACEGATE_DATA_DIR": str(settings.data_dir),
            "FACEGATE_SECRETS_FILE": os.environ.get("FACEGATE_SECRETS_FILE", "/nonexistent"),
            "FACEGATE_MQTT_PORT": str(settings.mqtt_port),
            "FACEGATE_LOG_LEVEL": "ERROR",
            **extra,
        }
    )
    return env


def _read_line(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail("the subprocess printed nothing in time")
    return proc.stdout.readline()


def _start_broker(settings) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "iot", "broker"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(settings, FACEGATE_ANALYSIS_BUFFER_SECONDS="0.2"),
    )
    line = _read_line(proc)
    assert json.loads(line)["port"] == settings.mqtt_port
    return proc


def _sensor(i: int) -> dict:
    return sensor_record("id001", T0, float(i)) | {"Datetime": (T0 + timedelta(milliseconds=i)).isoformat()}


def test_kill9_of_the_broker_and_rule_engine_loses_no_acknowledged_message(tele_settings, make_publisher):
    from core.events.local import LocalEventStore
    from core.objects.local import LocalObjectStore

    events = LocalEventStore(tele_settings.data_dir / "events" / "events.db")
    objects = LocalObjectStore(tele_settings.data_dir / "objects")
    broker = _start_broker(tele_settings)
    procs = [broker]
    try:
        pub = make_publisher()
        n = 3000
        acknowledged: list[int] = []

        def produce():
            for i in range(n):
                records = {"sensor": [_sensor(i)]}
                if i % 5 == 0:
                    records["auth"] = auth_log_records("id001", T0, f"img{i}.jpg", [])
                if i % 7 == 0:
                    records["analysis"] = analysis_log_records(T0, [{"AgeRange": {"Low": i, "High": i + 5}}])
                for kind, recs in records.items():
                    pub.publish_many(kind, recs)
                acknowledged.append(i)
                if i % 50 == 0:
                    time.sleep(0.01)

        producer = threading.Thread(target=produce)
        producer.start()
        wait_for(lambda: events.count("sensor") >= n // 4, timeout=60)
        broker.send_signal(signal.SIGKILL)
        broker.wait(10)
        killed_at = events.count("sensor")
        time.sleep(0.5)
        broker = _start_broker(tele_settings)
        procs.append(broker)
        producer.join(120)
        assert not producer.is_alive()
        assert pub.wait_drained(60), pub.status()
        broker.send_signal(signal.SIGTERM)  # graceful: flushes the analysis buffer
        assert broker.wait(30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert 0 < killed_at < n, "the kill did not happen mid-stream"
    assert len(acknowledged) == n
    values = events.query("sensor")["Value"].tolist()
    assert Counter(values) == Counter(float(i) for i in range(n))  # each exactly once
    assert LocalSensorTable(tele_settings.data_dir / "telemetry" / "tables.db").count(tele_settings.sensor_table) == n

    bucket = tele_settings.logs_bucket
    listed = objects.list_objects(bucket)
    auth = [json.loads(objects.get_object(bucket, o.key)) for o in listed if o.key.endswith("-auth-log-data.json")]
    assert Counter(a["PictureName"] for a in auth) == Counter(f"img{i}.jpg" for i in range(0, n, 5))
    lows = []
    for o in listed:
        if o.key.startswith("analysis/"):
            lows += [json.loads(line)["AgeRange-Low"] for line in objects.get_object(bucket, o.key).splitlines()]
    assert Counter(lows) == Counter(range(0, n, 7))  # every analysis record in exactly one batch object


PUBLISHER_SCRIPT = """
import sys
from datetime import UTC, datetime, timedelta
from core.config import load_settings
from core.events.records import sensor_record
from core.bootstrap import build_services
services = build_services(load_settings())
t0 = datetime(2026, 4, 1, 9, 0, 0, tzinfo=UTC)
for i in range(100000):
    services.publisher.publish("sensor", sensor_record("id001", t0, float(i))
                               | {"Datetime": (t0 + timedelta(milliseconds=i)).isoformat()})
    print(i, flush=True)
"""


def test_kill9_of_the_app_loses_no_accepted_record(runner, make_publisher, tele_settings):
    stack = runner.start()
    app = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tele_settings, FACEGATE_PUBLISHER="mqtt"),
    )
    accepted = []
    try:
        while len(accepted) < 400:
            accepted.append(int(_read_line(app)))
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        accepted += [int(x) for x in app.stdout.read().split()]
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    next_app = make_publisher()  # the app starts again: it drains what the killed one left
    assert next_app.wait_drained(30), next_app.status()
    settle(stack)
    values = runner.events.query("sensor")["Value"].tolist()
    assert len(values) == len(set(values))  # nothing doubled
    assert set(float(i) for i in accepted) <= set(values)  # nothing accepted is lost
