"""What the Logs page reads: the newest messages on a topic, and who may read them.

Auth, door-open and analysis logs say who came when (names, faces' attributes), so only an
admin reads them; anyone may read the sensor stream (a phone sending its motion sensors
watches it there). The check is here, not only in the page, so that a page which reads again
on its own (a fragment refreshing every two seconds) is refused the moment its admin session
ends, whatever the page drew before.
"""

from __future__ import annotations

import pandas as pd

from core.access.sessions import is_admin, require_admin
from core.bootstrap.services import Services
from core.events.port import KINDS, kind_for_topic, topic_for


def sensor_topic(services: Services) -> str:
    return topic_for("sensor", services.settings.topic_prefix)


def _require_reader(services: Services, topic: str | None) -> None:
    if topic != sensor_topic(services):
        require_admin()


def readable_topic(services: Services, topic: str | None) -> str | None:
    """``topic`` when the caller may read it (None = every topic, an admin's), else the sensor
    topic: what a page should tail for whoever acts now."""
    return topic if is_admin() or topic == sensor_topic(services) else sensor_topic(services)


def recent_messages(services: Services, topic: str | None, limit: int = 30) -> list[dict]:
    """The broker's newest messages on ``topic`` (None: every topic), newest first, as
    ``{"seq", "topic", "client_id", "received_ms", "payload"}``; empty without a local broker
    journal (direct publishing, the aws world). Raises AdminRequired for anything but the
    sensor topic without an admin session."""
    _require_reader(services, topic)
    return services.telemetry.recent(topic, limit) if services.telemetry is not None else []


def stored_recently(services: Services, topic: str | None, limit: int = 10) -> pd.DataFrame:
    """The newest ``limit`` records per kind that the event store holds for ``topic`` (None:
    every kind), with a ``kind`` column; what the page shows when there is no broker journal.
    Raises AdminRequired as ``recent_messages``."""
    _require_reader(services, topic)
    prefix = services.settings.topic_prefix
    kinds = [kind_for_topic(topic, prefix)] if topic else list(KINDS)
    frames = []
    for kind in kinds:
        if kind is None:
            continue
        frame = services.events.recent(kind, limit=limit)
        if len(frame):
            frames.append(frame.assign(kind=kind))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
