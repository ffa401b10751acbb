"""What the logs page shows about the local telemetry stack, read from another process:
broker state (its status file), recent messages per topic and the rule engine's errors
(its journal), like IoT Core's MQTT test client and rule error metrics."""

from __future__ import annotations

from core.config import Settings
from core.events.port import KINDS, topic_for
from core.telemetry.journal import Journal
from core.telemetry.local import read_broker_status, telemetry_paths
from core.telemetry.outbox import Outbox
from core.telemetry.port import TelemetryMonitor


class LocalTelemetryMonitor(TelemetryMonitor):
    def __init__(self, settings: Settings):
        self.settings = settings
        self._journal: Journal | None = None

    def _j(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(telemetry_paths(self.settings).journal)
        return self._journal

    def topics(self) -> list[str]:
        """The course's four topics under the configured prefix."""
        return [topic_for(k, self.settings.topic_prefix) for k in KINDS]

    def broker_status(self) -> dict | None:
        """The running broker's state, or ``None`` when no local broker is running."""
        return read_broker_status(self.settings)

    def recent(self, topic: str | None = None, limit: int = 20) -> list[dict]:
        """Newest messages the broker accepted on ``topic`` (all topics when None)."""
        return self._j().recent(topic, limit)

    def error_count(self) -> int:
        return self._j().error_count()

    def errors(self, limit: int = 50) -> list[dict]:
        """Newest refused or unstorable messages with the reason."""
        return self._j().errors(limit)

    def forget_person(self, name: str) -> int:
        """Remove the broker's copies of the auth and door messages naming ``name`` and the
        publishers' unsent ones (the outbox every local process shares)."""
        removed = self._j().forget_person(name, [topic_for(k, self.settings.topic_prefix) for k in ("auth", "door")])
        outbox = telemetry_paths(self.settings).outbox
        if outbox.exists():
            box = Outbox(outbox)
            try:
                removed += box.forget_person(name)
            finally:
                box.close()
        return removed
