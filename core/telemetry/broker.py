"""The local world's MQTT broker: asyncio, mutual TLS, MQTT 3.1.1 and 5.0, QoS 0 and 1.

What it guarantees, and why it is ours rather than a pip broker (FIELD_NOTES: amqtt speaks
only 3.1.1 and accepts clients without a certificate unless a plugin is enabled):

* TLS with ``CERT_REQUIRED`` against the local CA: no certificate, or one from another CA,
  fails the handshake; nothing is read from such a client.
* IoT-policy-like restrictions per device: the client id must be the certificate's common
  name (or start with ``<name>-``); devices publish and subscribe only under the topic prefix.
* A QoS 1 PUBLISH is acknowledged only after ``ingest`` has made it durable (group commit
  in one worker thread), so a kill -9 never loses an acknowledged message.
* The message id a publisher puts in the MQTT 5 user property ``facegate-id`` travels
  with the message, so redelivery is recognised downstream without touching the payload.

Subscribers (for example ``mosquitto_sub``, like IoT Core's test client) receive at QoS 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.telemetry import wire
from core.telemetry.wire import ProtocolError

log = logging.getLogger(__name__)

MESSAGE_ID_PROPERTY = "facegate-id"
# Larger than IoT Core's 128 KB so that oversize messages reach the rule engine's error
# store with a reason instead of vanishing in a disconnect; beyond this we do disconnect.
MAX_PACKET = 512 * 1024
RECEIVE_MAXIMUM = 1024


@dataclass
class Inbound:
    """One PUBLISH as the broker received it."""

    topic: str
    payload: bytes
    client_id: str
    message_id: str | None = None


@dataclass
class _Pending:
    inbound: Inbound
    conn: _Connection | None
    packet_id: int = 0
    qos: int = 0


def server_ssl_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate signed by ``ca_file``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.load_verify_locations(cafile=str(ca_file))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class TopicPolicy:
    """What a device (certificate common name) may do, like an IoT Core policy using
    ``${iot:Connection.Thing.ThingName}``."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def may_connect(self, common_name: str | None, client_id: str) -> bool:
        return bool(common_name) and (client_id == common_name or client_id.startswith(common_name + "-"))

    def may_publish(self, common_name: str, topic: str) -> bool:
        return topic.startswith(self.prefix + "/")

    def may_subscribe(self, common_name: str, topic_filter: str) -> bool:
        return topic_filter.startswith(self.prefix + "/")


@dataclass
class BrokerStats:
    started_at: float = field(default_factory=time.time)
    connections_total: int = 0
    rejected_connections: int = 0
    received: int = 0
    acknowledged: int = 0
    not_authorised: int = 0


class _Connection:
    def __init__(self, broker: Broker, reader, writer):
        self.broker, self.reader, self.writer = broker, reader, writer
        self.client_id = ""
        self.common_name: str | None = None
        self.version = 4
        self.subscriptions: dict[str, int] = {}
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()

    # -- packets out ------------------------------------------------------------------
    def puback(self, packet_id: int, reason: int = wire.RC_SUCCESS) -> None:
        if self.version == 5 and reason != wire.RC_SUCCESS:
            body = struct.pack("!HB", packet_id, reason) + wire.enc_properties([])
        else:
            body = struct.pack("!H", packet_id)
        self.send(wire.packet(wire.PUBACK, 0, body))

    def connack(self, reason: int) -> None:
        if self.version == 5:
            props = [
                (wire.P_RECEIVE_MAXIMUM, RECEIVE_MAXIMUM),
                (wire.P_MAXIMUM_QOS, 1),
                (wire.P_RETAIN_AVAILABLE, 0),
                (wire.P_MAX_PACKET_SIZE, MAX_PACKET),
                (wire.P_SHARED_AVAILABLE, 0),
                (wire.P_SUB_ID_AVAILABLE, 0),
            ]
            body = bytes([0, reason]) + wire.enc_properties(props)
        else:
            v3 = {
                wire.RC_SUCCESS: 0,
                wire.RC_UNSUPPORTED_VERSION: 1,
                wire.RC_CLIENT_ID_INVALID: 2,
                wire.RC_NOT_AUTHORIZED: 5,
            }
            body = bytes([0, v3.get(reason, 5)])
        self.send(wire.packet(wire.CONNACK, 0, body))

    def deliver(self, topic: str, payload: bytes) -> None:
        body = wire.enc_string(topic) + (wire.enc_properties([]) if self.version == 5 else b"") + payload
        self.send(wire.packet(wire.PUBLISH, 0, body))

    # -- the session ------------------------------------------------------------------
    async def run(self) -> None:
        peer = self.writer.get_extra_info("peercert") or {}
        subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
        self.common_name = subject.get("commonName")
        try:
            kind, _flags, body = await asyncio.wait_for(wire.read_packet(self.reader, MAX_PACKET), 10)
            if kind != wire.CONNECT:
                raise ProtocolError("first packet must be CONNECT", wire.RC_PROTOCOL_ERROR)
            keep_alive = self._on_connect(body)
            if self.closed:
                return
            timeout = keep_alive * 1.5 if keep_alive else None
            while not self.closed:
                kind, flags, body = await asyncio.wait_for(wire.read_packet(self.reader, MAX_PACKET), timeout)
                if kind == wire.PUBLISH:
                    self._on_publish(flags, body)
                elif kind == wire.PINGREQ:
                    self.send(wire.packet(wire.PINGRESP, 0, b""))
                elif kind == wire.SUBSCRIBE:
                    self._on_subscribe(body)
                elif kind == wire.UNSUBSCRIBE:
                    self._on_unsubscribe(body)
                elif kind == wire.DISCONNECT:
                    break
                elif kind == wire.PUBACK:
                    pass  # we deliver at QoS 0 only; tolerate a confused client
                else:
                    raise ProtocolError(f"unexpected packet type {kind}", wire.RC_PROTOCOL_ERROR)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        except ProtocolError as exc:
            log.info("closing %s: %s", self.client_id or "client", exc)
            if self.version == 5 and self.client_id:
                self.send(wire.packet(wire.DISCONNECT, 0, bytes([exc.reason]) + wire.enc_properties([])))
        except ssl.SSLError as exc:
            log.info("TLS error from %s: %s", self.client_id or "client", exc)
        except Exception:  # noqa: BLE001 - a decoder bug must cost one connection, not the broker
            log.exception("closing %s after an unexpected error", self.client_id or "client")
        finally:
            self.broker._forget(self)
            self.close()

    def _on_connect(self, body: bytes) -> int:
        name, pos = wire.read_string(body, 0)
        level, pos = wire.read_u8(body, pos)
        if name != "MQTT" or level not in (4, 5):
            self.version = 4
            self.connack(wire.RC_UNSUPPORTED_VERSION)
            self.close()
            return 0
        self.version = level
        flags, pos = wire.read_u8(body, pos)
        if flags & 0x01:
            raise ProtocolError("CONNECT reserved flag set")
        keep_alive, pos = wire.read_u16(body, pos)
        if self.version == 5:
            _props, pos = wire.read_properties(body, pos)
        self.client_id, pos = wire.read_string(body, pos)
        if flags & 0x04:  # will message: parsed and ignored (no will support)
            if self.version == 5:
                _props, pos = wire.read_properties(body, pos)
            _topic, pos = wire.read_string(body, pos)
            _payload, pos = wire.read_binary(body, pos)
        if not self.broker.policy.may_connect(self.common_name, self.client_id):
            self.broker.stats.rejected_connections += 1
            log.warning("refused client id %r for certificate %r", self.client_id, self.common_name)
            self.connack(wire.RC_NOT_AUTHORIZED)
            self.close()
            return 0
        self.broker._register(self)
        self.connack(wire.RC_SUCCESS)
        return keep_alive

    def _on_publish(self, flags: int, body: bytes) -> None:
        qos = (flags >> 1) & 0x03
        if qos == 3:  # MQTT-3.3.1-4: both QoS bits set is a malformed packet
            raise ProtocolError("PUBLISH with QoS 3", wire.RC_MALFORMED)
        if qos == 2:
            raise ProtocolError("QoS 2 is not supported", wire.RC_QOS_NOT_SUPPORTED)
        topic, pos = wire.read_string(body, 0)
        packet_id = 0
        if qos:
            packet_id, pos = wire.read_u16(body, pos)
        message_id = None
        if self.version == 5:
            props, pos = wire.read_properties(body, pos)
            for pid, value in props:
                if pid == wire.USER_PROPERTY and value[0] == MESSAGE_ID_PROPERTY:
                    message_id = value[1][:128]
                elif pid == wire.P_TOPIC_ALIAS:
                    raise ProtocolError("topic aliases are not supported", wire.RC_PROTOCOL_ERROR)
        payload = bytes(body[pos:])
        broker = self.broker
        broker.stats.received += 1
        if not wire.valid_topic_name(topic):
            raise ProtocolError(f"invalid topic name {topic!r}", wire.RC_TOPIC_NAME_INVALID)
        if not broker.policy.may_publish(self.common_name, topic):
            broker.stats.not_authorised += 1
            broker._refused(
                Inbound(topic, payload, self.client_id, message_id),
                f"not authorised: {self.common_name} may not publish to {topic}",
            )
            if qos and self.version == 5:
                self.puback(packet_id, wire.RC_NOT_AUTHORIZED)
                return
            raise ProtocolError(f"not authorised to publish to {topic}", wire.RC_NOT_AUTHORIZED)
        broker._accept(_Pending(Inbound(topic, payload, self.client_id, message_id), self, packet_id, qos))

    def _on_subscribe(self, body: bytes) -> None:
        packet_id, pos = wire.read_u16(body, 0)
        if self.version == 5:
            _props, pos = wire.read_properties(body, pos)
        codes = []
        while pos < len(body):
            flt, pos = wire.read_string(body, pos)
            _options, pos = wire.read_u8(body, pos)  # we grant QoS 0 whatever was asked
            if not wire.valid_topic_filter(flt):
                codes.append(wire.RC_TOPIC_FILTER_INVALID if self.version == 5 else 0x80)
            elif not self.broker.policy.may_subscribe(self.common_name, flt):
                codes.append(wire.RC_NOT_AUTHORIZED if self.version == 5 else 0x80)
            else:
                self.subscriptions[flt] = 0
                codes.append(0)
        if not codes:
            raise ProtocolError("SUBSCRIBE without topic filters", wire.RC_PROTOCOL_ERROR)
        props = wire.enc_properties([]) if self.version == 5 else b""
        self.send(wire.packet(wire.SUBACK, 0, struct.pack("!H", packet_id) + props + bytes(codes)))

    def _on_unsubscribe(self, body: bytes) -> None:
        packet_id, pos = wire.read_u16(body, 0)
        if self.version == 5:
            _props, pos = wire.read_properties(body, pos)
        codes = []
        while pos < len(body):
            flt, pos = wire.read_string(body, pos)
            codes.append(0 if self.subscriptions.pop(flt, None) is not None else 0x11)
        if self.version == 5:
            self.send(
                wire.packet(wire.UNSUBACK, 0, struct.pack("!H", packet_id) + wire.enc_properties([]) + bytes(codes))
            )
        else:
            self.send(wire.packet(wire.UNSUBACK, 0, struct.pack("!H", packet_id)))


class Broker:
    """Serve MQTT over mutual TLS on ``host:port``; ``ingest(list[Inbound])`` must make a
    batch durable or raise; ``refused(Inbound, reason)`` records a refused publish.
    Both run in one worker thread, never on the event loop."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        policy: TopicPolicy,
        ingest: Callable[[list[Inbound]], None],
        refused: Callable[[Inbound, str], None] | None = None,
    ):
        self.host, self.port = host, port
        self.ssl_context, self.policy = ssl_context, policy
        self._ingest, self._refused_cb = ingest, refused
        self.stats = BrokerStats()
        self._clients: dict[str, _Connection] = {}
        self._pending: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._server: asyncio.base_events.Server | None = None
        self._committer: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-ingest")
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Listen; ``self.port`` is the bound port afterwards (pass 0 for a free one)."""
        self._wake = asyncio.Event()
        self._server = await asyncio.start_server(
            self._on_client,
            self.host,
            self.port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=10,
            limit=MAX_PACKET + 1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._committer = asyncio.create_task(self._commit_loop())

    async def stop(self) -> None:
        """Stop listening, commit what was received, acknowledge it, close every client."""
        if self._server:
            self._server.close()
        for conn in list(self._clients.values()):
            conn.close()
        if self._committer:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        if self._pending:
            await self._commit(self._pending)
        tasks = list(self._tasks)
        if tasks:  # closed connections end by themselves; only a stuck handshake is cancelled
            _done, stuck = await asyncio.wait(tasks, timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def state(self) -> dict:
        s = self.stats
        return {
            "endpoint": f"{self.host}:{self.port}",
            "clients": sorted(self._clients),
            "connections_total": s.connections_total,
            "rejected_connections": s.rejected_connections,
            "received": s.received,
            "acknowledged": s.acknowledged,
            "not_authorised": s.not_authorised,
            "started_at": s.started_at,
        }

    # -- connections ------------------------------------------------------------------
    async def _on_client(self, reader, writer) -> None:
        self.stats.connections_total += 1
        conn = _Connection(self, reader, writer)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await conn.run()
        finally:
            self._tasks.discard(task)

    def _register(self, conn: _Connection) -> None:
        old = self._clients.get(conn.client_id)
        if old is not None and old is not conn:  # session take-over, as the spec says
            if old.version == 5:
                old.send(wire.packet(wire.DISCONNECT, 0, bytes([wire.RC_SESSION_TAKEN_OVER]) + wire.enc_properties([])))
            old.close()
        self._clients[conn.client_id] = conn

    def _forget(self, conn: _Connection) -> None:
        if self._clients.get(conn.client_id) is conn:
            del self._clients[conn.client_id]

    # -- messages ---------------------------------------------------------------------
    def _refused(self, inbound: Inbound, reason: str) -> None:
        if self._refused_cb is not None:
            self._executor.submit(self._refused_cb, inbound, reason)

    def _accept(self, pending: _Pending) -> None:
        self._pending.append(pending)
        self._wake.set()

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Everything that arrived while the previous batch was being written goes in
            # one transaction: group commit is what makes durable-before-ack affordable.
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._ingest, [p.inbound for p in batch])
        except Exception:  # noqa: BLE001 - a storage failure must not kill the broker
            log.exception("could not store %d messages; closing their connections so they retry", len(batch))
            for p in batch:
                if p.conn is not None:
                    p.conn.close()
            return
        for p in batch:
            if p.qos and p.conn is not None:
                p.conn.puback(p.packet_id)
                self.stats.acknowledged += 1
            self._fan_out(p.inbound)

    def _fan_out(self, inbound: Inbound) -> None:
        for conn in self._clients.values():
            if any(wire.topic_matches(flt, inbound.topic) for flt in conn.subscriptions):
                conn.deliver(inbound.topic, inbound.payload)
