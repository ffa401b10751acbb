"""The local world's adapters: files, SQLite and the embedded face engine under the data
directory, records through the local MQTT broker or straight into the event store."""

from __future__ import annotations

from core.bootstrap.services import Services
from core.config import Settings, records_zone
from core.events.direct import DirectPublisher
from core.events.local import LocalEventStore
from core.events.port import EventPublisher, EventStore
from core.faces.local import LocalFaceCollections
from core.objects.local import LocalObjectStore
from core.quicksight.local import LocalQuickSight
from core.storage.files import ensure_dir, owner_only_umask
from core.telemetry.local import build_local_publisher
from core.telemetry.monitor import LocalTelemetryMonitor
from core.web.client.local import LocalFaceApi


def build_local_services(settings: Settings) -> Services:
    """Adapters for the local world, everything under ``settings.data_dir``."""
    owner_only_umask()  # biometric data: nothing under the data dir readable by others
    data = ensure_dir(settings.data_dir)
    objects = LocalObjectStore(data / "objects")
    events = LocalEventStore(data / "events" / "events.db", zone=records_zone(settings))
    faces = LocalFaceCollections(data, objects=objects, region=settings.region)
    return Services(
        settings=settings,
        objects=objects,
        faces=faces,
        publisher=_local_publisher(settings, events),
        events=events,
        api=LocalFaceApi(settings, faces, objects),
        telemetry=LocalTelemetryMonitor(settings),
        quicksight=LocalQuickSight(settings.quicksight_dashboards),
    )


def _local_publisher(settings: Settings, events: EventStore) -> EventPublisher:
    """MQTT + outbox when ``FACEGATE_PUBLISHER`` is mqtt, or auto with a local broker
    running; otherwise records go straight into the event store."""
    if settings.publisher != "direct":
        publisher = build_local_publisher(settings, settings.publisher)
        if publisher is not None:
            return publisher
    return DirectPublisher(events)
