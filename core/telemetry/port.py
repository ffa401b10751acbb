"""What the logs page and the CLI read about the MQTT side: broker state, recent messages, rule
errors, and forgetting a person in the broker's copies. The local world has a broker of its own
(``core.telemetry.monitor.LocalTelemetryMonitor``); in aws IoT Core's are in the AWS console,
so ``NoTelemetry`` answers "nothing here"."""

from __future__ import annotations

import abc


class TelemetryMonitor(abc.ABC):
    # False where the broker is not ours to watch (aws: IoT Core's state is in its console).
    available: bool = True

    @abc.abstractmethod
    def topics(self) -> list[str]:
        """The course's four topics under the configured prefix."""

    @abc.abstractmethod
    def broker_status(self) -> dict | None:
        """The running broker's state, or None when no broker of ours is running."""

    @abc.abstractmethod
    def recent(self, topic: str | None = None, limit: int = 20) -> list[dict]:
        """Newest messages the broker accepted on ``topic`` (all topics when None)."""

    @abc.abstractmethod
    def error_count(self) -> int:
        """How many messages the rules refused or could not store."""

    @abc.abstractmethod
    def errors(self, limit: int = 50) -> list[dict]:
        """Newest refused or unstorable messages with the reason."""

    @abc.abstractmethod
    def forget_person(self, name: str) -> int:
        """Remove the broker's and the outbox's copies of messages naming ``name``; returns how many."""


class NoTelemetry(TelemetryMonitor):
    """A world without a broker of ours (aws: IoT Core keeps no copies we could read)."""

    available = False

    def __init__(self, topics: list[str] | None = None):
        self._topics = list(topics or [])

    def topics(self) -> list[str]:
        return list(self._topics)

    def broker_status(self) -> dict | None:
        return None

    def recent(self, topic: str | None = None, limit: int = 20) -> list[dict]:
        return []

    def error_count(self) -> int:
        return 0

    def errors(self, limit: int = 50) -> list[dict]:
        return []

    def forget_person(self, name: str) -> int:
        return 0
