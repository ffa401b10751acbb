"""The local world's telemetry stack in one process: broker + journal + rule engine.

``TelemetryStack`` is what ``python -m core serve`` (and ``python -m core iot broker``)
runs. It writes its state to ``<data dir>/telemetry/broker.json`` every second so that the
app (another process) can show broker state, and so that ``FACEGATE_PUBLISHER=auto``
knows a broker is there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError
from core.storage.files import atomic_write_bytes, ensure_dir
from core.telemetry.broker import Broker, server_ssl_context
from core.telemetry.ca import LocalCA
from core.telemetry.engine import RuleEngine
from core.telemetry.gateway import build_gateway
from core.telemetry.journal import Journal
from core.telemetry.outbox import Outbox
from core.telemetry.paths import TelemetryPaths, telemetry_paths  # noqa: F401 - re-exported (tests, CLI)
from core.telemetry.publisher import MqttPublisher
from core.telemetry.rules import course_rules
from core.telemetry.sensor_table import LocalSensorTable
from core.telemetry.shared import shared_publisher
from core.telemetry.subscriber import BrokerSubscription

log = logging.getLogger(__name__)

STATUS_FRESH_SECONDS = 5.0
# The rule engine's client id when it subscribes to an external broker.
RULES_CLIENT_ID = "facegate-rules"


def split_endpoint(endpoint: str, default_port: int = 8883) -> tuple[str, int]:
    """``host[:port]`` -> ``(host, port)``; raises ``ConfigError`` for a bad port."""
    host, _, port_text = endpoint.strip().rpartition(":") if endpoint.count(":") == 1 else (endpoint, "", "")
    try:
        return host, int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(f"FACEGATE_MQTT_ENDPOINT must be host or host:port, not {endpoint!r}") from None


def mqtt_credentials(settings: Settings, ca, identity: str, role: str = "device") -> tuple[Path, Path, Path | None]:
    """``(cert, key, ca)`` files: the configured ones, else the local CA's for ``identity``."""
    if settings.mqtt_cert_file:
        return (
            Path(settings.mqtt_cert_file),
            Path(settings.mqtt_key_file),
            Path(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        )
    creds = ca.device_credentials(identity, role)
    return creds.cert_file, creds.key_file, creds.ca_file


def read_broker_status(settings: Settings) -> dict | None:
    """The running local broker's last status, or ``None`` when none is running (no file,
    a stale file, or its process is gone)."""
    path = telemetry_paths(settings).status
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if time.time() - status.get("updated_at", 0) > STATUS_FRESH_SECONDS or status.get("stopped"):
        return None
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return status


class TelemetryStack:
    """Broker on ``host:port`` (0 = a free port) whose messages the rule engine stores
    through the given adapters. ``await start()`` / ``await stop()``, or ``run()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        events,
        objects,
        host: str | None = None,
        port: int | None = None,
        stream_max_age_s: float = 60.0,
        stream_max_bytes: int = 5 * 1024 * 1024,
    ):

        self.settings = settings
        self.paths = telemetry_paths(settings)
        ensure_dir(self.paths.root)
        self.ca = LocalCA(self.paths.pki).ensure()
        self.journal = Journal(self.paths.journal)
        self.table = LocalSensorTable(self.paths.tables)
        self.engine = RuleEngine(
            self.journal,
            course_rules(settings.topic_prefix, settings.logs_bucket),
            prefix=settings.topic_prefix,
            events=events,
            objects=objects,
            table=self.table,
            table_name=settings.sensor_table,
            stream_max_age_s=stream_max_age_s,
            stream_max_bytes=stream_max_bytes,
        )
        self.host = host or settings.bind_host
        self.port = settings.mqtt_port if port is None else port
        self.broker: Broker | None = None
        self.subscription: BrokerSubscription | None = None
        self._status_task: asyncio.Task | None = None
        # What the broker and the IoT Data HTTPS endpoint (in this process) publish through.
        self.gateway = build_gateway(settings, store=self._ingest, refused=self._refused)

    def _ingest(self, batch) -> None:
        self.journal.append(batch)
        self.engine.notify()

    def _refused(self, inbound, reason: str) -> None:
        self.journal.record_refused(inbound.topic, inbound.client_id, inbound.message_id, reason, inbound.payload)

    async def start(self) -> None:
        if self.settings.mqtt_endpoint:
            self._start_subscription()
            return

        ssl_ctx = server_ssl_context(self.ca.ca_file, self.ca.broker_cert_file, self.ca.broker_key_file)
        self.broker = Broker(
            host=self.host,
            port=self.port,
            ssl_context=ssl_ctx,
            gateway=self.gateway,
            registry=self.ca.registry(),
        )
        self.engine.start()
        await self.broker.start()
        self.port = self.broker.port
        self._write_status()
        self._status_task = asyncio.create_task(self._status_loop())
        log.warning("MQTT broker (mutual TLS) listening on %s:%s", self.host, self.port)

    def _start_subscription(self) -> None:
        """External broker (``FACEGATE_MQTT_ENDPOINT``): the engine is one of its subscribers."""

        host, port = split_endpoint(self.settings.mqtt_endpoint)
        cert, key, ca = mqtt_credentials(self.settings, self.ca, RULES_CLIENT_ID, "monitor")
        self.subscription = BrokerSubscription(
            endpoint=host,
            port=port,
            cert_file=cert,
            key_file=key,
            ca_file=ca,
            client_id=RULES_CLIENT_ID,
            ingest=self._ingest,
            topic_filter=f"{self.settings.topic_prefix}/#",
        )
        self.engine.start()
        self.subscription.start()
        self.host, self.port = host, port
        self._write_status()
        self._status_task = asyncio.create_task(self._status_loop())

    async def stop(self) -> None:
        """Stop accepting, store and acknowledge what arrived, flush the analysis buffer."""
        if self._status_task:
            self._status_task.cancel()
        if self.broker:
            await self.broker.stop()
        if self.subscription:
            self.subscription.stop()
        self.engine.stop()
        self._write_status(stopped=True)

    def status(self) -> dict:
        broker: dict
        if self.broker:
            broker = self.broker.state()
        elif self.subscription:
            broker = {
                "endpoint": f"{self.host}:{self.port} (external)",
                "connected": self.subscription.connected.is_set(),
                "received": self.subscription.received,
            }
        else:
            broker = {}
        return {
            "pid": os.getpid(),
            "host": self.host,
            "port": self.port,
            "updated_at": time.time(),
            "broker": broker,
            "engine": self.engine.status(),
        }

    def _write_status(self, stopped: bool = False) -> None:
        status = self.status()
        status["stopped"] = stopped
        atomic_write_bytes(self.paths.status, json.dumps(status).encode())

    async def _status_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            try:
                await loop.run_in_executor(None, self._write_status)
            except Exception:  # status is best effort; the broker goes on
                log.exception("could not write broker status")

    async def run(self, ready=None) -> None:
        """Serve until SIGINT/SIGTERM; ``ready()`` is called once listening."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        if ready:
            ready(self)
        await stop.wait()
        await self.stop()


def build_local_publisher(settings: Settings, mode: str):
    """The publisher for the local world: ``mqtt`` (outbox + awsiotsdk to the local broker
    or ``FACEGATE_MQTT_ENDPOINT``) or ``None`` for the caller to use the direct one."""

    paths = telemetry_paths(settings)
    if mode == "auto" and not settings.mqtt_endpoint and read_broker_status(settings) is None:
        return None
    host, port = settings.bind_host, settings.mqtt_port
    if settings.mqtt_endpoint:
        host, port = split_endpoint(settings.mqtt_endpoint)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    cert, key, ca = mqtt_credentials(settings, LocalCA(paths.pki), settings.device_id)
    # The client id is the thing name, exactly (the broker accepts no other): one connection
    # per process and connection settings (core.telemetry.shared), and only the process that
    # drains the shared outbox connects, so the app, the Web API and the CLI never take each
    # other's session over.
    client_id = settings.device_id
    connection = (
        "local",
        host,
        port,
        str(cert),
        str(key),
        str(ca),
        client_id,
        settings.topic_prefix,
        str(paths.outbox),
    )
    return shared_publisher(
        connection,
        lambda: MqttPublisher(
            Outbox(paths.outbox),
            endpoint=host,
            port=port,
            cert_file=cert,
            key_file=key,
            ca_file=ca,
            client_id=client_id,
            prefix=settings.topic_prefix,
            # The SDK's IoT Core flow control is 100 publishes/s: the default device quota.
            # Above that (or with the quota off) send freely; a PUBACK 0x97 means "later".
            flow_control=0 < settings.device_messages_per_second <= 100,
        ),
    )
