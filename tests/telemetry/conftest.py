"""Fixtures for the telemetry tests: a real broker + rule engine on a free loopback port, and
real awsiotsdk publishers with certificates from the test's own local CA."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time

import pytest

from core.config import zone_info
from core.events.local import LocalEventStore
from core.objects.local import LocalObjectStore
from core.telemetry.local import TelemetryStack, build_local_publisher, telemetry_paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.02):
    """Poll ``predicate`` until truthy; returns its value or fails the test (never hangs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s: {predicate}")


class StackRunner:
    """A ``TelemetryStack`` on its own event-loop thread, startable and stoppable again."""

    def __init__(self, settings, **kwargs):
        self.settings, self.kwargs = settings, kwargs
        data = settings.data_dir
        self.events = LocalEventStore(data / "events" / "events.db", zone=zone_info(settings.timezone))
        self.objects = LocalObjectStore(data / "objects")
        self.stack: TelemetryStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TelemetryStack:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.stack = TelemetryStack(self.settings, events=self.events, objects=self.objects, **self.kwargs)
        asyncio.run_coroutine_threadsafe(self.stack.start(), self._loop).result(20)
        return self.stack

    def stop(self) -> None:
        if self.stack is None:
            return
        asyncio.run_coroutine_threadsafe(self.stack.stop(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self.stack = None


# Streams in these tests run at thousands of messages/s: the per-device quota stays on (it is
# what every publish passes through) but above IoT Core's 100/s default, so the publisher's
# SDK flow control is off. tests/telemetry/test_quotas.py runs the defaults.
TEST_QUOTA_PER_SECOND = 20_000


@pytest.fixture
def tele_settings(settings, monkeypatch):
    """Settings with the broker on a free port (the CA is created in the test's data dir)."""
    monkeypatch.setenv("FACEGATE_DEVICE_MESSAGES_PER_SECOND", str(TEST_QUOTA_PER_SECOND))
    monkeypatch.setenv("FACEGATE_DEVICE_BYTES_PER_SECOND", str(TEST_QUOTA_PER_SECOND * 4096))
    return dataclasses.replace(
        settings,
        mqtt_port=free_port(),
        analysis_buffer_seconds=60.0,
        device_messages_per_second=TEST_QUOTA_PER_SECOND,
        device_bytes_per_second=TEST_QUOTA_PER_SECOND * 4096,
    )


@pytest.fixture
def runner(tele_settings):
    r = StackRunner(tele_settings)
    yield r
    r.stop()


@pytest.fixture
def stack(runner):
    return runner.start()


@pytest.fixture
def make_publisher(tele_settings):
    made = []

    def make(settings=None):
        pub = build_local_publisher(settings or tele_settings, "mqtt")
        made.append(pub)
        return pub

    yield make
    for pub in made:
        pub.close()


@pytest.fixture
def paths(tele_settings):
    return telemetry_paths(tele_settings)


def settle(stack) -> None:
    """Wait until the rule engine has processed everything the broker journaled."""
    wait_for(lambda: stack.journal.backlog() == 0)
