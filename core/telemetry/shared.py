"""One MQTT connection per process and connection settings, however many ``Services`` use it.

Why: the app builds ``Services`` per settings (``st.cache_resource`` keeps the last two), so a
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
    """A holder's share of one process-wide publisher. Publishing, status and everything else
    the real publisher offers (``publish_raw``, ``wait_drained``, ``outbox``) go to it."""

    def __init__(self, key: Hashable, publisher: EventPublisher):
        self._key = key
        self._publisher = publisher
        self._closed = False

    def publish(self, kind: str, payload: dict) -> str:
        return self._publisher.publish(kind, payload)

    def publish_many(self, kind: str, payloads: list[dict]) -> list[str]:
        return self._publisher.publish_many(kind, payloads)

    def status(self) -> dict:
        return self._publisher.status()

    def __getattr__(self, name: str):
        # Only reached for what this class does not define: the real publisher's extras.
        return getattr(self._publisher, name)

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
