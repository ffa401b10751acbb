"""Event ports: publishing the course's log records, and storing/querying them.

Kinds and topics (``<prefix>`` is ``Settings.topic_prefix``, default ``handson``):

| kind       | topic                        |
|------------|------------------------------|
| auth       | <prefix>/authLogData         |
| analysis   | <prefix>/analysisLogData     |
| door       | <prefix>/doorOpenLogData     |
| sensor     | <prefix>/sensorLogData       |

Payloads are built by ``core.events.records`` exactly as the course's (HANDSON.md step 4).
"""

from __future__ import annotations

import abc

import pandas as pd

KIND_TOPICS = {
    "auth": "authLogData",
    "analysis": "analysisLogData",
    "door": "doorOpenLogData",
    "sensor": "sensorLogData",
}
KINDS = tuple(KIND_TOPICS)


def topic_for(kind: str, prefix: str) -> str:
    return f"{prefix}/{KIND_TOPICS[kind]}"


def kind_for_topic(topic: str, prefix: str) -> str | None:
    for kind, suffix in KIND_TOPICS.items():
        if topic == f"{prefix}/{suffix}":
            return kind
    return None


class EventPublisher(abc.ABC):
    """Accepts records for delivery. ``publish`` returns once the record is durable
    (in aws/local MQTT mode: in the on-disk outbox), never silently drops one."""

    @abc.abstractmethod
    def publish(self, kind: str, payload: dict) -> str:
        """Accept ``payload`` for topic of ``kind``; return its message id."""

    def status(self) -> dict:
        """``{"connected": bool, "outbox_depth": int, "endpoint": str}`` for the UI."""
        return {"connected": True, "outbox_depth": 0, "endpoint": "direct"}

    def close(self) -> None:
        pass


class EventStore(abc.ABC):
    """Where stored events are read back for history and analytics (both worlds), and
    written by the local rule engine (local world only)."""

    @abc.abstractmethod
    def append(self, kind: str, records: list[dict], ids: list[str]) -> int:
        """Store records idempotently by id (QoS 1 redelivery is not doubled). Returns the
        number newly stored."""

    @abc.abstractmethod
    def query(self, kind: str, *, device: str | None = None, since: str | None = None,
              until: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Events of ``kind`` as a DataFrame, newest last; columns are the payload fields plus
        ``Datetime`` parsed as UTC timestamps."""
