"""The one composition root: builds every adapter for the configured world.

Pages, Lambda handlers and the CLI call ``build_services()`` (Streamlit through
``st.cache_resource``) and then only talk to the ports on ``Services``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings, load_settings, zone_info
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
    # The Web API as the app reaches it (core.apiclient): in process locally, HTTP in aws.
    api: object = None
    # Broker state, recent messages and rule errors for the logs page (local world;
    # core.telemetry.monitor.LocalTelemetryMonitor), None where there is none.
    telemetry: object = None
    # QuickSight dashboards to embed (core.quicksight): a listing locally, embed URLs in aws.
    quicksight: object = None

    def close(self) -> None:
        self.publisher.close()


def build_services(settings: Settings | None = None) -> Services:
    """Adapters for ``settings.backend`` ("local" or "aws"). Raises ConfigError."""
    settings = settings or load_settings()
    if settings.backend == "aws":
        from core.aws_services import build_aws_services  # noqa: PLC0415 (only needed in aws)

        services = build_aws_services(settings)
    else:
        services = build_local_services(settings)
    if services.api is None:
        from core.apiclient import build_api_client

        services.api = build_api_client(services)
    if services.quicksight is None:
        from core.quicksight import build_quicksight

        services.quicksight = build_quicksight(settings)
    return services


def build_local_services(settings: Settings) -> Services:
    from core.events.direct import DirectPublisher
    from core.events.local import LocalEventStore
    from core.faces.local import LocalFaceCollections
    from core.objects.local import LocalObjectStore
    from core.storage import ensure_dir, owner_only_umask
    from core.telemetry.monitor import LocalTelemetryMonitor

    owner_only_umask()  # biometric data: nothing under the data dir readable by others
    data = ensure_dir(settings.data_dir)
    objects = LocalObjectStore(data / "objects")
    events = LocalEventStore(data / "events" / "events.db", zone=zone_info(settings.timezone))
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
    from core.telemetry.local import build_local_publisher

    return build_local_publisher(settings, settings.publisher)
