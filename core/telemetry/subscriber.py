"""Feeding the rule engine from an external broker (Mosquitto, say) instead of the embedded one.

The engine subscribes to ``<prefix>/#`` at QoS 1 with a persistent session and takes manual
control of each PUBACK: a message is acknowledged to the broker only once it is in the
journal (group commit), so a kill -9 of the engine loses nothing the broker still holds.
What the external broker itself keeps across *its* crash is that broker's business
(Mosquitto: ``persistence true`` plus its autosave interval).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from core.telemetry.broker import MESSAGE_ID_PROPERTY, Inbound

log = logging.getLogger(__name__)


class BrokerSubscription:
    """Subscribe ``client_id`` at ``endpoint:port`` to ``topic_filter`` and hand each message to
    ``ingest(list[Inbound])`` (which must make it durable or raise) before acknowledging it."""

    def __init__(
        self,
        *,
        endpoint: str,
        port: int,
        cert_file: Path,
        key_file: Path,
        ca_file: Path | None,
        client_id: str,
        topic_filter: str,
        ingest,
    ):
        from awscrt import mqtt5  # noqa: PLC0415 (awscrt/awsiot are native and heavy: only when connecting)
        from awsiot import mqtt5_client_builder  # noqa: PLC0415 (with awscrt)

        self._mqtt5 = mqtt5
        self._ingest = ingest
        self._topic_filter = topic_filter
        self._queue: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.received = 0
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint,
            port=port,
            cert_filepath=str(cert_file),
            pri_key_filepath=str(key_file),
            ca_filepath=str(ca_file) if ca_file else None,
            client_id=client_id,
            # A persistent session: the broker keeps QoS 1 messages for us while we are down.
            session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            session_expiry_interval_sec=7 * 24 * 3600,
            extended_validation_and_flow_control_options=mqtt5.ExtendedValidationAndFlowControlOptions.NONE,
            receive_maximum=1024,
            min_reconnect_delay_ms=250,
            max_reconnect_delay_ms=5000,
            enable_metrics_collection=False,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_disconnection=lambda _d: self.connected.clear(),
        )
        self._thread = threading.Thread(target=self._commit_forever, name="broker-subscription", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._client.start()

    def stop(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._client.stop()

    def _on_connected(self, data) -> None:
        self.connected.set()
        if data.connack_packet is not None and data.connack_packet.session_present and self.subscribed.is_set():
            return
        mqtt5 = self._mqtt5
        future = self._client.subscribe(
            mqtt5.SubscribePacket(
                subscriptions=[mqtt5.Subscription(topic_filter=self._topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)]
            )
        )
        future.add_done_callback(
            lambda f: (
                self.subscribed.set()
                if not f.exception()
                else log.error("subscribe to %s failed: %s", self._topic_filter, f.exception())
            )
        )

    def _on_publish(self, data) -> None:
        packet = data.publish_packet
        message_id = None
        for prop in packet.user_properties or ():
            if prop.name == MESSAGE_ID_PROPERTY:
                message_id = prop.value[:128]
        handle = (
            data.acquire_publish_acknowledgement_control() if data.acquire_publish_acknowledgement_control else None
        )
        self._queue.put((Inbound(packet.topic, bytes(packet.payload or b""), "", message_id), handle))

    def _commit_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:  # group commit: take everything that is waiting
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                self._ingest([inbound for inbound, _ in batch])
            except Exception:  # not acknowledged: the broker redelivers after reconnect
                log.exception("could not store %d messages from the broker", len(batch))
                continue
            self.received += len(batch)
            for _inbound, handle in batch:
                if handle is not None:
                    self._client.invoke_publish_acknowledgement(handle)
