"""``Services``: the ports one world's adapters fill in, which pages, handlers, the CLI and
the use cases talk to (``core.bootstrap.build_services`` builds it)."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings
from core.events.port import EventPublisher, EventStore
from core.faces.port import FaceCollections
from core.objects.port import ObjectStore


@dataclass
class Services:
    settings: Settings
    objects: ObjectStore
    faces: FaceCollections
    publisher: EventPublisher
    events: EventStore
    # The Web API as the app reaches it (core.web.client): in process locally, HTTP in aws.
    api: object = None
    # Broker state, recent messages and rule errors for the logs page (local world;
    # core.telemetry.monitor.LocalTelemetryMonitor), None where there is none.
    telemetry: object = None
    # QuickSight dashboards to embed (core.quicksight): a listing locally, embed URLs in aws.
    quicksight: object = None

    def close(self) -> None:
        self.publisher.close()
