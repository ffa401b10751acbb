"""The aws world's adapters, built from settings that ``python -m core deploy up`` wrote
(bucket and table names, region, IoT endpoint, API URL).

Only ``core.bootstrap.build_services`` calls ``build_aws_services``. Every client uses the
standard credential chain and botocore's standard retry mode (``core.aws.clients``).
The IoT Core publisher is built on first publish, so that the Web API's Lambda functions
(which need only faces and objects, and ship without awscrt) never import it or connect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.aws.clients import aws_client, aws_errors
from core.bootstrap.services import Services
from core.config import Settings
from core.events.port import KINDS, EventPublisher, EventStore, topic_for
from core.faces.aws import RekognitionFaceCollections
from core.objects.aws import S3ObjectStore
from core.telemetry.port import NoTelemetry
from core.web.client.http import HttpFaceApi

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)


def iot_data_endpoint(settings: Settings, session=None) -> str:
    """The account's IoT Core ATS endpoint: from settings when ``deploy up`` wrote it, else
    asked of IoT (``describe_endpoint``, type ``iot:Data-ATS``). Raises domain errors."""
    if settings.mqtt_endpoint:
        return settings.mqtt_endpoint
    with aws_errors():
        return aws_client("iot", settings.region, session).describe_endpoint(endpointType="iot:Data-ATS")[
            "endpointAddress"
        ]


class LazyPublisher(EventPublisher):
    """Builds the real MQTT publisher on first use: the app connects once it publishes,
    and processes that never publish (Lambda functions, the CLI) never connect."""

    def __init__(self, factory: Callable[[], EventPublisher]):
        self._factory = factory
        self._publisher: EventPublisher | None = None
        self._lock = threading.Lock()

    def _get(self) -> EventPublisher:
        with self._lock:
            if self._publisher is None:
                self._publisher = self._factory()
            return self._publisher

    def publish(self, kind, payload):
        return self._get().publish(kind, payload)

    def publish_many(self, kind, payloads):
        return self._get().publish_many(kind, payloads)  # keeps the outbox's one durable write

    accepts_any_topic = True  # what it builds is an MQTT publisher

    def publish_raw(self, topic: str, data: bytes) -> str:
        return self._get().publish_raw(topic, data)

    def wait_drained(self, timeout: float) -> bool:
        return True if self._publisher is None else self._publisher.wait_drained(timeout)

    def status(self):
        if self._publisher is None:
            # Not a fault: nothing to send yet (the health line says so, not "not connected").
            return {
                "state": "idle",
                "connected": False,
                "outbox_depth": 0,
                "endpoint": "IoT Core (connects on first publish)",
            }
        return self._publisher.status()

    def close(self):
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()


class LazyClient:
    """A boto3 client made on first use: creating one loads its service model (the S3 model
    alone is ~0.3 s on a Lambda core), and the Web API's functions never touch S3."""

    def __init__(self, factory):
        self._factory = factory
        self._client = None
        self._lock = threading.Lock()

    def __getattr__(self, name):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return getattr(self._client, name)


class LazyEventStore(EventStore):
    """Builds the aws event store on first use. Its readers need pandas (~0.3 s to import);
    the Web API's Lambda functions never read events, so their cold start never pays for it."""

    def __init__(self, factory: Callable[[], EventStore]):
        self._factory = factory
        self._store: EventStore | None = None
        self._lock = threading.Lock()

    def resolve(self) -> EventStore:
        with self._lock:
            if self._store is None:
                self._store = self._factory()
            return self._store

    def append(self, kind, records, ids, *, received=None, senders=None):
        return self.resolve().append(kind, records, ids, received=received, senders=senders)

    def query(self, kind, **kwargs):
        return self.resolve().query(kind, **kwargs)

    def recent(self, kind, limit=10):
        return self.resolve().recent(kind, limit)

    def purge_before(self, cutoff):
        return self.resolve().purge_before(cutoff)

    def forget_person(self, name):
        return self.resolve().forget_person(name)

    def warm_columnar(self):
        return self.resolve().warm_columnar()

    def seal(self):
        return self.resolve().seal()

    def columnar(self, **kwargs):
        return self.resolve().columnar(**kwargs)

    def __getattr__(self, name):  # the adapter's own attributes (sensor_table, athena, ...)
        return getattr(self.resolve(), name)


def _event_store_factory(settings: Settings, session):
    def build() -> EventStore:
        from core.events.aws import build_aws_event_store  # noqa: PLC0415 (its readers import pandas: Lambda never reads events)

        return build_aws_event_store(settings, session=session)

    return build


def _iot_publisher_factory(settings: Settings, session):
    """The IoT engineer's awsiotsdk publisher + outbox, pointed at the ATS endpoint with the
    device certificate ``deploy up`` stored. Raises ResourceNotFound without a certificate."""

    def build() -> EventPublisher:
        from core.deploy.state import device_credentials  # noqa: PLC0415 (built on first publish: Lambda never publishes)
        from core.telemetry.aws import build_iot_core_publisher, process_client_id  # noqa: PLC0415 (as above)

        creds = device_credentials(settings)
        return build_iot_core_publisher(
            settings,
            endpoint=iot_data_endpoint(settings, session),
            cert_file=creds.cert_file,
            key_file=creds.key_file,
            client_id=process_client_id(creds.client_id),  # the thing name + this process
        )

    return build


def build_aws_services(settings: Settings, session: boto3.session.Session | None = None) -> Services:
    """Adapters for the aws world. ``session`` is a ``boto3.session.Session`` (tests pass one
    bound to moto); by default a new one from the standard chain. Raises ConfigError."""
    import boto3  # noqa: PLC0415 (importing boto3 costs ~0.2 s; the local world never pays it)

    from core.quicksight import build_quicksight  # noqa: PLC0415 (with boto3)

    session = session or boto3.session.Session()
    return Services(
        settings=settings,
        objects=S3ObjectStore(LazyClient(lambda: aws_client("s3", settings.region, session))),
        faces=RekognitionFaceCollections(aws_client("rekognition", settings.region, session)),
        publisher=LazyPublisher(_iot_publisher_factory(settings, session)),
        events=LazyEventStore(_event_store_factory(settings, session)),
        # The deployed API with its key (a missing URL or key raises ConfigError on first use,
        # so the app starts before `deploy up` has run).
        api=HttpFaceApi(settings.api_url, settings.api_key),
        telemetry=NoTelemetry([topic_for(kind, settings.topic_prefix) for kind in KINDS]),
        quicksight=build_quicksight(settings, session),
    )
