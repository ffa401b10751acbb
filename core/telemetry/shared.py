"""One MQTT connection per process and connection settings, however many ``Services`` use it.

Why: the app builds ``Services`` per settings (``core.bootstrap.shared_services`` keeps the last two), so a
change on the settings page (a new threshold) built a second ``MqttPublisher`` in the same
process with the same client id (``<device>-<pid>``). MQTT allows one connection per client
id, so the broker disconnected each for the other (session take-over) and both reconnected:
the status flapped between connected and offline, the health line raised a false alarm and the
broker's connection count climbed with every round (issue 17 §4). Now every publisher built
for the same connection settings is the same connection; each holder releases its share with
``close()`` and the connection closes with the last one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from core.events.port import EventPublisher

_lock = threading.Lock()
_live: dict[Hashable, list] = {}  # key -> [publisher, holders]


class SharedPublisher(EventPublisher):
    """A holder's share of one process-wide publisher: every method of the port goes to it."""

    def __init__(self, key: Hashable, publisher: EventPublisher):
        self._key = key
        self._publisher = publisher
        self._closed = False

    def publish(self, kind: str, payload: dict) -> str:
        return self._publisher.publish(kind, payload)

    def publish_many(self, kind: str, payloads: list[dict]) -> list[str]:
        return self._publisher.publish_many(kind, payloads)

    @property
    def accepts_any_topic(self) -> bool:  # type: ignore[override]  # the shared publisher's answer
        return self._publisher.accepts_any_topic

    def publish_raw(self, topic: str, data: bytes) -> str:
        return self._publisher.publish_raw(topic, data)

    def status(self) -> dict:
        return self._publisher.status()

    def wait_drained(self, timeout: float) -> bool:
        return self._publisher.wait_drained(timeout)

    def close(self) -> None:
        """Release this share; the connection closes when no holder is left."""
        with _lock:
            if self._closed:
                return
            self._closed = True
            entry = _live.get(self._key)
            if entry is None or entry[0] is not self._publisher:
                return
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _live[self._key]
        if last:
            self._publisher.close()


def shared_publisher(key: Hashable, build: Callable[[], EventPublisher]) -> SharedPublisher:
    """A share of the process's publisher for ``key`` (every setting the connection is made
    from), built with ``build()`` when there is none yet."""
    with _lock:
        entry = _live.get(key)
        if entry is None:
            entry = _live[key] = [build(), 0]
        entry[1] += 1
        return SharedPublisher(key, entry[0])


def open_connections() -> int:
    """How many shared publishers this process holds (tests, diagnostics)."""
    with _lock:
        return len(_live)
