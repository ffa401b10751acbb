"""The one MQTT publisher of both worlds: AWS IoT Device SDK (awsiotsdk ``mqtt5_client_builder``)
over mutual TLS, QoS 1, fed from the durable on-disk outbox.

``publish`` returns once the record is in the outbox; a sender thread keeps up to
``max_inflight`` records in flight and deletes each one when its PUBACK arrives. Only the
process that drains the shared outbox connects, with the thing name as client id exactly (as
IoT Core's policy variable ``${iot:Connection.Thing.ThingName}`` requires); the others show
its connection state. A PUBACK "quota exceeded" (0x97: the broker's per-device quota or its
disk guard) means "later": the record stays and is sent again after a pause. Each
PUBLISH carries the record's id in the MQTT 5 user property ``facegate-id`` (the payload
stays exactly the course's), which is how the rule engine recognises a redelivery.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path

from core.errors import InvalidParameter
from core.events.port import KINDS, EventPublisher, topic_for
from core.telemetry.broker import MESSAGE_ID_PROPERTY
from core.telemetry.outbox import Outbox
from core.telemetry.payloads import MAX_MESSAGE_BYTES, BadMessage, check_record

log = logging.getLogger(__name__)

_OK_REASONS = (0, 16)  # SUCCESS, NO_MATCHING_SUBSCRIBERS
_LATER_REASONS = (0x97,)  # QUOTA_EXCEEDED: send again after a pause, never give the record up
RETRY_PAUSE_S = 1.0


def encode_payload(payload: dict) -> bytes:
    """The JSON bytes sent for ``payload``; raises ``InvalidParameter`` for what JSON cannot
    carry or what is over IoT Core's 128 KB."""
    try:
        data = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"record cannot be sent as JSON: {exc}") from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidParameter(f"record is {len(data)} bytes, over the 128 KB MQTT message limit")
    return data


class MqttPublisher(EventPublisher):
    """Publishes course records to ``<prefix>/<topic>`` at ``endpoint:port``.

    ``iot_core`` keeps the SDK's AWS IoT Core flow control (100 publishes/s and 512 KiB/s per
    connection, IoT Core's own limits); ``flow_control`` asks for the same throttling from the
    local broker, whose per-device quota defaults to those limits.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        endpoint: str,
        port: int,
        cert_file: Path,
        key_file: Path,
        ca_file: Path | None,
        client_id: str,
        prefix: str,
        iot_core: bool = False,
        flow_control: bool | None = None,
        max_inflight: int = 512,
    ):
        from awscrt import mqtt5  # noqa: PLC0415 (awscrt/awsiot are native and heavy: only when connecting)
        from awsiot import mqtt5_client_builder  # noqa: PLC0415 (with awscrt)

        self._mqtt5 = mqtt5
        self.outbox, self.prefix = outbox, prefix
        self.endpoint = f"{endpoint}:{port}"
        self.client_id = client_id
        self.max_inflight = max_inflight
        self._connected = threading.Event()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        self._acked: list[int] = []
        self._refused: list[tuple[int, str]] = []
        self._resend_from: int | None = None
        self._last_sent = 0
        self._last_settle = 0.0
        self._last_error = ""
        self._pause_until = 0.0
        self._tried = threading.Event()  # a first connection attempt has succeeded or failed
        flow = (
            mqtt5.ExtendedValidationAndFlowControlOptions.AWS_IOT_CORE_DEFAULTS
            if (iot_core if flow_control is None else flow_control)
            else mqtt5.ExtendedValidationAndFlowControlOptions.NONE
        )
        self._client: mqtt5.Client | None = None
        self._build_client = lambda: mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint,
            port=port,
            cert_filepath=str(cert_file),
            pri_key_filepath=str(key_file),
            ca_filepath=str(ca_file) if ca_file else None,
            client_id=client_id,
            keep_alive_interval_sec=60,
            extended_validation_and_flow_control_options=flow,
            offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType.FAIL_ALL_ON_DISCONNECT,
            min_reconnect_delay_ms=250,
            max_reconnect_delay_ms=5000,
            ack_timeout_sec=30,
            enable_metrics_collection=iot_core,
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_connection_failure=self._on_connect_failed,
            on_lifecycle_disconnection=self._on_disconnected,
        )
        self._thread = threading.Thread(target=self._drain_forever, name="mqtt-outbox", daemon=True)
        self._thread.start()

    # -- the port ---------------------------------------------------------------------
    def publish(self, kind: str, payload: dict) -> str:
        """Accept a course record of ``kind``; returns its message id once it is durable in
        the outbox. Raises ``InvalidParameter`` for an unknown kind or a record with the
        course's fields of the wrong type (nothing is stored then)."""
        return self.publish_many(kind, [payload])[0]

    def publish_many(self, kind: str, payloads: list[dict]) -> list[str]:
        """``publish`` for several records in one durable write; returns their ids in order."""
        if kind not in KINDS:
            raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        topic = topic_for(kind, self.prefix)
        rows = []
        for payload in payloads:
            try:
                check_record(kind, payload)
            except BadMessage as exc:
                raise InvalidParameter(f"not a valid {kind} record: {exc.message}") from None
            rows.append((uuid.uuid4().hex, topic, encode_payload(payload)))
        self.outbox.add(rows)
        self._wake.set()
        return [r[0] for r in rows]

    accepts_any_topic = True

    def publish_raw(self, topic: str, data: bytes) -> str:
        """Queue any bytes for any topic (the logs page's test form, like IoT Core's test
        client): the broker and the rule engine judge it. Returns the message id."""
        if not isinstance(topic, str) or not topic or "#" in topic or "+" in topic:
            raise InvalidParameter(f"not a topic name: {topic!r}")
        message_id = uuid.uuid4().hex
        self.outbox.add([(message_id, topic, bytes(data))])
        self._wake.set()
        return message_id

    def status(self) -> dict:
        """Connection and outbox state. ``state`` is ``connecting`` until the first attempt
        ends (a page opened during start-up is not a fault), then ``connected`` or
        ``offline``; in a process that is not sending (another one drains the shared outbox)
        it is that process's connection (``"sender": "another process"``)."""
        connected, tried, sender = self._connected.is_set(), self._tried.is_set(), "this process"
        if self._client is None:
            state = self.outbox.sender_state() or {}
            alive = bool(state) and _alive(state.get("pid"))
            connected = alive and bool(state.get("connected"))
            tried, sender = alive, ("another process" if alive else "none yet")
        return {
            "state": "connected" if connected else ("offline" if tried else "connecting"),
            "connected": connected,
            "sender": sender,
            "outbox_depth": self.outbox.depth(),
            "endpoint": self.endpoint,
            "client_id": self.client_id,
            "refused": self.outbox.refused_count(),
            "last_error": self._last_error,
        }

    def wait_drained(self, timeout: float) -> bool:
        """True once the outbox is empty (tests, shutdown), False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0:
                return True
            time.sleep(0.02)
        return self.outbox.depth() == 0

    def close(self) -> None:
        """Stop sending; whatever is not acknowledged stays in the outbox for next time."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if self._client is not None:
            self._client.stop()
            self.outbox.write_sender_state({"pid": os.getpid(), "connected": False})
        self.outbox.release()

    # -- connection events (awscrt threads) -------------------------------------------
    def _on_connected(self, _data) -> None:
        self._last_error = ""
        self._connected.set()
        self._tried.set()
        self._share_state()
        self._wake.set()

    def _on_connect_failed(self, data) -> None:
        self._last_error = f"connect failed: {data.exception}"
        self._connected.clear()
        self._tried.set()
        self._share_state()

    def _on_disconnected(self, data) -> None:
        self._last_error = f"disconnected: {data.exception}"
        self._connected.clear()
        self._share_state()

    def _share_state(self) -> None:
        try:
            self.outbox.write_sender_state(
                {"pid": os.getpid(), "connected": self._connected.is_set(), "last_error": self._last_error}
            )
        except OSError as exc:  # status only; sending goes on
            log.debug("could not share the connection state: %s", exc)

    def _on_done(self, seq: int, future) -> None:
        try:
            result = future.result()
            reason = int(result.puback.reason_code) if result.puback is not None else 0
        except Exception as exc:  # noqa: BLE001 - not acknowledged: send again later
            with self._lock:
                self._inflight.discard(seq)
                self._resend_from = seq if self._resend_from is None else min(self._resend_from, seq)
            log.debug("publish %s not acknowledged: %s", seq, exc)
            self._wake.set()
            return
        with self._lock:
            self._inflight.discard(seq)
            if reason in _OK_REASONS:
                self._acked.append(seq)
            elif reason in _LATER_REASONS:
                self._resend_from = seq if self._resend_from is None else min(self._resend_from, seq)
                self._pause_until = time.monotonic() + RETRY_PAUSE_S
                self._last_error = f"broker asked to send later (reason code {reason}): quota or disk reserve"
            else:
                self._refused.append((seq, f"broker refused with reason code {reason}"))
        self._wake.set()

    # -- the sender thread --------------------------------------------------------------
    def _drain_forever(self) -> None:
        self.outbox.relax_sync_for_this_thread()
        while not self._closed.is_set():
            self._wake.clear()  # before looking, so a publish during the pass is not lost
            try:
                sent = self._drain_once()
            except Exception:  # e.g. the disk is briefly locked; try again
                log.exception("outbox sender failed; retrying")
                sent = 0
                self._closed.wait(1.0)
            if not sent:
                self._wake.wait(0.025 if self._acked else 0.5)
        self._settle()

    def _settle(self, force: bool = True) -> None:
        # Delete acknowledged records in batches: one transaction per ~20 ms, not per PUBACK.
        if not force and len(self._acked) < 256 and time.monotonic() - self._last_settle < 0.02:
            return
        self._last_settle = time.monotonic()
        with self._lock:
            acked, self._acked = self._acked, []
            refused, self._refused = self._refused, []
        if acked:
            self.outbox.remove(acked)
        for seq, reason in refused:
            log.warning("outbox record %s refused by the broker: %s", seq, reason)
            self.outbox.refuse(seq, reason)

    def _drain_once(self) -> int:
        self._settle(force=False)
        if not self.outbox.try_become_drainer():
            self._closed.wait(1.0)
            return 0
        client = self._client
        if client is None:
            client = self._client = self._build_client()
            client.start()
        if not self._connected.is_set() or time.monotonic() < self._pause_until:
            return 0
        with self._lock:
            if self._resend_from is not None:
                self._last_sent = min(self._last_sent, self._resend_from - 1)
                self._resend_from = None
            room = self.max_inflight - len(self._inflight)
            inflight = set(self._inflight)
        if room <= 0:
            return 0
        rows = [r for r in self.outbox.after(self._last_sent, room + len(inflight)) if r[0] not in inflight][:room]
        mqtt5 = self._mqtt5
        for seq, msg_id, topic, payload in rows:
            packet = mqtt5.PublishPacket(
                topic=topic,
                payload=payload,
                qos=mqtt5.QoS.AT_LEAST_ONCE,
                user_properties=[mqtt5.UserProperty(MESSAGE_ID_PROPERTY, msg_id)],
            )
            with self._lock:
                self._inflight.add(seq)
            future = client.publish(packet)
            future.add_done_callback(lambda f, s=seq: self._on_done(s, f))
            self._last_sent = max(self._last_sent, seq)
        return len(rows)


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True
