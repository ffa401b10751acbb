"""The local world's adapters: files, SQLite and the embedded face engine under the data
directory, records through the local MQTT broker or straight into the event store."""

from __future__ import annotations

from core.bootstrap.services import Services
from core.config import Settings, records_zone
from core.events.direct import DirectPublisher
from core.events.local import LocalEventStore
from core.faces.local import LocalFaceCollections
from core.objects.local import LocalObjectStore
from core.storage.files import ensure_dir, owner_only_umask
from core.telemetry.local import build_local_publisher
from core.telemetry.monitor import LocalTelemetryMonitor


def build_local_services(settings: Settings) -> Services:
    """Adapters for the local world, everything under ``settings.data_dir``."""
    owner_only_umask()  # biometric data: nothing under the data dir readable by others
    data = ensure_dir(settings.data_dir)
    objects = LocalObjectStore(data / "objects")
    events = LocalEventStore(data / "events" / "events.db", zone=records_zone(settings))
    return Services(
        settings=settings,
        objects=objects,
        faces=LocalFaceCollections(data, objects=objects, region=settings.region),
        publisher=_local_publisher(settings) or DirectPublisher(events),
        events=events,
        telemetry=LocalTelemetryMonitor(settings),
    )


def _local_publisher(settings: Settings):
    """MQTT + outbox when ``FACEGATE_PUBLISHER`` is mqtt, or auto with a local broker
    running; otherwise None (records go straight into the event store)."""
    if settings.publisher == "direct":
        return None
    return build_local_publisher(settings, settings.publisher)
