"""A publisher that stores records straight into the local event store, with no broker.

Used by tests and by the local world when the MQTT telemetry stack is not running; the
records are the same course payloads that go over MQTT."""

from __future__ import annotations

import uuid

from core.errors import InvalidParameter
from core.events.port import KINDS, EventPublisher, EventStore


class DirectPublisher(EventPublisher):
    def __init__(self, store: EventStore):
        self.store = store

    def publish(self, kind, payload):
        if kind not in KINDS:
            raise InvalidParameter(f"unknown log kind {kind!r}")
        message_id = str(uuid.uuid4())
        self.store.append(kind, [payload], [message_id])
        return message_id

    def status(self):
        return {
            "state": "connected",
            "connected": True,
            "outbox_depth": 0,
            "endpoint": "direct (no broker)",
            "direct": True,
        }
