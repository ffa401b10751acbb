"""The aws world's publisher: the same awsiotsdk publisher and outbox, to the account's
IoT Core ATS endpoint with the certificate ``deploy up`` created.

IoT Core keeps the SDK's flow control (100 publishes/s per connection is IoT Core's own
limit) and verifies the endpoint against the system trust store (Amazon Root CA 1).
The ``facegate-id`` user property travels too; IoT rules can read it with
``get_user_property('facegate-id')``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError
from core.telemetry.local import telemetry_paths
from core.telemetry.outbox import Outbox
from core.telemetry.publisher import MqttPublisher
from core.telemetry.shared import SharedPublisher, shared_publisher

MAX_CLIENT_ID = 128  # IoT Core's limit, in bytes
_process_suffix: tuple[int, str] | None = None


def process_client_id(thing: str) -> str:
    """This process's MQTT client id at IoT Core: ``<thing>-<pid>-<random>``.

    IoT Core keeps one connection per client id and disconnects the older one when another
    connects with it; with the thing name for all of them, the app, ``serve`` and ``iot
    publish`` kicked each other off. The device policy allows ``<thing>`` and ``<thing>-*``.
    The random part keeps two machines sharing a certificate apart; a forked child gets its
    own. Raises ConfigError when the id would exceed IoT Core's 128 bytes."""
    global _process_suffix
    if _process_suffix is None or _process_suffix[0] != os.getpid():
        _process_suffix = (os.getpid(), f"{os.getpid()}-{secrets.token_hex(4)}")
    client_id = f"{thing}-{_process_suffix[1]}"
    if len(client_id.encode()) > MAX_CLIENT_ID:
        raise ConfigError(f"thing name {thing!r} is too long for a per-process MQTT client id; use a shorter device id")
    return client_id


def build_iot_core_publisher(
    settings: Settings, *, endpoint: str, cert_file: Path, key_file: Path, client_id: str, ca_file: Path | None = None
) -> SharedPublisher:
    """A share of the ``MqttPublisher`` to IoT Core (port 8883, mutual TLS) with its outbox under the data
    dir, so records wait on disk while offline. Connects in the background."""
    host, _, port = endpoint.partition(":")
    outbox = telemetry_paths(settings).root / "outbox-aws.db"
    # IoT Core also allows one connection per client id: Services built for the same
    # connection settings share one (core.telemetry.shared).
    connection = ("iot-core", host, port, str(cert_file), str(key_file), str(ca_file), client_id, settings.topic_prefix)
    return shared_publisher(
        connection,
        lambda: MqttPublisher(
            Outbox(outbox),
            endpoint=host,
            port=int(port or 8883),
            cert_file=Path(cert_file),
            key_file=Path(key_file),
            ca_file=Path(ca_file) if ca_file else None,
            client_id=client_id,
            prefix=settings.topic_prefix,
            iot_core=True,
        ),
    )
