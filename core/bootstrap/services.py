"""``Services``: the ports one world's adapters fill in, which pages, handlers, the CLI and
the use cases talk to (``core.bootstrap.build_services`` builds it, complete)."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings
from core.events.port import EventPublisher, EventStore
from core.faces.port import FaceCollections
from core.objects.port import ObjectStore
from core.quicksight.port import QuickSightDashboards
from core.telemetry.port import TelemetryMonitor
from core.web.client.port import FaceApi


@dataclass
class Services:
    settings: Settings
    objects: ObjectStore
    faces: FaceCollections
    publisher: EventPublisher
    events: EventStore
    # The Web API as the app reaches it: in process locally, the deployed API over HTTP in aws.
    api: FaceApi
    # Broker state, recent messages and rule errors for the logs page: the local broker's, or
    # NoTelemetry in aws (IoT Core's are in its console).
    telemetry: TelemetryMonitor
    # QuickSight dashboards to embed: a listing locally, embed URLs in aws.
    quicksight: QuickSightDashboards

    def close(self) -> None:
        """Let go of connections (the MQTT publisher's; unsent records stay in the outbox)."""
        self.publisher.close()
