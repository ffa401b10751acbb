"""The local world's MQTT broker: asyncio, mutual TLS, MQTT 3.1.1 and 5.0, QoS 0 and 1.

What it guarantees, and why it is ours rather than a pip broker (FIELD_NOTES: amqtt speaks
only 3.1.1 and accepts clients without a certificate unless a plugin is enabled):

* TLS with ``CERT_REQUIRED`` against the local CA: no certificate, or one from another CA,
  fails the handshake; nothing is read from such a client.
* The device registry (``core.telemetry.registry``) is checked at every connect: only an
  ``ACTIVE`` certificate connects, and only with its thing name as client id, exactly (as
  ``${iot:Connection.Thing.ThingName}``). Revoking or deleting a certificate ends its live
  sessions within ``REGISTRY_POLL_S``.
* Every PUBLISH goes through ``DeviceGateway.admit`` (quota, topic policy, disk guard) —
  the same checks as the IoT Data HTTPS path — and only ``monitor`` identities subscribe.
* A QoS 1 PUBLISH is acknowledged only after the gateway has stored it durably (group
  commit in one worker thread), so a kill -9 never loses an acknowledged message.
* The message id a publisher puts in the MQTT 5 user property ``facegate-id`` travels
  with the message, so redelivery is recognised downstream without touching the payload.
* Subscribers receive at QoS 0 through a bounded buffer (``SUBSCRIBER_BUFFER_BYTES``):
  what does not fit is dropped, and a subscriber that reads nothing for
  ``SLOW_SUBSCRIBER_S`` is disconnected, so one that never reads cannot grow memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import AccessDenied, StorageFull, Throttled
from core.telemetry import wire
from core.telemetry.gateway import DeviceGateway, Inbound, TopicPolicy
from core.telemetry.registry import DeviceRegistry, Identity, certificate_id
from core.telemetry.wire import ProtocolError

__all__ = ["Broker", "Inbound", "TopicPolicy", "server_ssl_context", "MESSAGE_ID_PROPERTY"]

log = logging.getLogger(__name__)

MESSAGE_ID_PROPERTY = "facegate-id"
# Larger than IoT Core's 128 KB so that oversize messages reach the rule engine's error
# store with a reason instead of vanishing in a disconnect; beyond this we do disconnect.
MAX_PACKET = 512 * 1024
RECEIVE_MAXIMUM = 1024
# Per subscriber: bytes of messages waiting to be sent (TLS framing comes on top) before
# further messages to it are dropped, and how long its buffer may stay full before it is
# disconnected.
SUBSCRIBER_BUFFER_BYTES = 1024 * 1024
SLOW_SUBSCRIBER_S = 10.0
# How often the broker looks for revoked or deleted certificates.
REGISTRY_POLL_S = 0.25


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


@dataclass
class BrokerStats:
    started_at: float = field(default_factory=time.time)
    connections_total: int = 0
    rejected_connections: int = 0
    received: int = 0
    acknowledged: int = 0
    not_authorised: int = 0
    throttled: int = 0
    storage_full: int = 0
    dropped_to_subscribers: int = 0
    slow_subscribers_disconnected: int = 0
    revoked_sessions_ended: int = 0


class _Connection:
    def __init__(self, broker: Broker, reader, writer):
        self.broker, self.reader, self.writer = broker, reader, writer
        self.client_id = ""
        self.certificate_id: str | None = None
        self.identity: Identity | None = None
        self.version = 4
        self.subscriptions: dict[str, int] = {}
        self.closed = False
        self._full_since: float | None = None  # when this subscriber's buffer filled up

    def send(self, data: bytes) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def close(self, abort: bool = False) -> None:
        """Close after sending what is buffered, or at once (``abort``: a subscriber that
        reads nothing would otherwise hold its connection open while the buffer never drains)."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                if abort:
                    self.writer.transport.abort()
                else:
                    self.writer.close()

    # -- packets out ------------------------------------------------------------------
    def puback(self, packet_id: int, reason: int = wire.RC_SUCCESS, why: str = "") -> None:
        if self.version == 5 and reason != wire.RC_SUCCESS:
            props = [(wire.P_REASON_STRING, why[:200])] if why else []
            body = struct.pack("!HB", packet_id, reason) + wire.enc_properties(props)
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
        """Send at QoS 0 if this subscriber's buffer has room; else drop the message, and
        disconnect a subscriber whose buffer has stayed full for ``SLOW_SUBSCRIBER_S``."""
        if self.closed:
            return
        body = wire.enc_string(topic) + (wire.enc_properties([]) if self.version == 5 else b"") + payload
        data = wire.packet(wire.PUBLISH, 0, body)
        if self.writer.transport.get_write_buffer_size() + len(data) > SUBSCRIBER_BUFFER_BYTES:
            stats = self.broker.stats
            stats.dropped_to_subscribers += 1
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            elif now - self._full_since > SLOW_SUBSCRIBER_S:
                stats.slow_subscribers_disconnected += 1
                log.warning("disconnecting %s: it has read nothing for %.0f s", self.client_id, SLOW_SUBSCRIBER_S)
                self.close(abort=True)
            return
        self._full_since = None
        self.send(data)

    # -- the session ------------------------------------------------------------------
    async def run(self) -> None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.certificate_id = certificate_id(der) if der else None
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
        except Exception:  # a decoder bug must cost one connection, not the broker
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
        identity = self.broker.identify(self.certificate_id)
        if not self.broker.policy.may_connect(identity, self.client_id):
            self.broker.stats.rejected_connections += 1
            if identity is None:
                log.warning(
                    "refused %r: certificate %s is not active in the device registry",
                    self.client_id,
                    (self.certificate_id or "?")[:16],
                )
            else:
                log.warning("refused client id %r: certificate of thing %r", self.client_id, identity.name)
            self.connack(wire.RC_NOT_AUTHORIZED)
            self.close()
            return 0
        self.identity = identity
        self.broker._register(self)
        self.connack(wire.RC_SUCCESS)
        return keep_alive

    def _identity(self) -> Identity:
        assert self.identity is not None, "PUBLISH or SUBSCRIBE before CONNECT"  # run() reads CONNECT first
        return self.identity

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
        try:
            broker.gateway.admit(self._identity(), topic, payload)
        except (AccessDenied, Throttled, StorageFull) as exc:
            if isinstance(exc, AccessDenied):
                broker.stats.not_authorised += 1
                reason = wire.RC_NOT_AUTHORIZED
            else:
                reason = wire.RC_QUOTA_EXCEEDED
                if isinstance(exc, Throttled):
                    broker.stats.throttled += 1
                else:
                    broker.stats.storage_full += 1
            if qos and self.version == 5:
                self.puback(packet_id, reason, exc.message)
                return
            # MQTT 3.1.1 has no way to refuse one PUBLISH: IoT Core disconnects, and so do we.
            raise ProtocolError(exc.message, reason) from None
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
            elif not self.broker.policy.may_subscribe(self._identity(), flt):
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
    """Serve MQTT over mutual TLS on ``host:port``. Connections are checked against
    ``registry``; publishes go through ``gateway`` (admitted on the event loop, stored in one
    worker thread, never on the loop)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        gateway: DeviceGateway,
        registry: DeviceRegistry,
    ):
        self.host, self.port = host, port
        self.ssl_context, self.gateway, self.registry = ssl_context, gateway, registry
        self.policy = gateway.policy
        self.stats = BrokerStats()
        self._clients: dict[str, _Connection] = {}
        self._pending: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._server: asyncio.base_events.Server | None = None
        self._committer: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-ingest")
        self._tasks: set[asyncio.Task] = set()
        self._conns: set[_Connection] = set()
        self._active: dict[str, Identity] = registry.active()
        self._generation = registry.generation()
        # Refusals are written to the journal in the ingest thread, never on the event loop.
        gateway.run_refusal = lambda record: self._executor.submit(record)

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
        self._watcher = asyncio.create_task(self._watch_registry())

    async def stop(self) -> None:
        """Stop listening, commit what was received, acknowledge it, close every client."""
        if self._server:
            self._server.close()
        if self._watcher:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for conn in list(self._clients.values()):
            conn.close()
        if self._committer:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        if self._pending:
            await self._commit(self._pending)
        tasks = list(self._tasks)
        if tasks:  # closed connections end by themselves; only a stuck one is cancelled
            _done, stuck = await asyncio.wait(tasks, timeout=2)
            for conn in list(self._conns):  # e.g. a subscriber whose full buffer never drains
                with contextlib.suppress(Exception):
                    conn.writer.transport.abort()
            if stuck:
                _done, stuck = await asyncio.wait(stuck, timeout=1)
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
            "throttled": s.throttled,
            "storage_full": s.storage_full,
            "dropped_to_subscribers": s.dropped_to_subscribers,
            "slow_subscribers_disconnected": s.slow_subscribers_disconnected,
            "revoked_sessions_ended": s.revoked_sessions_ended,
            "free_disk_mb": self.gateway.disk.free_bytes() // 2**20,
            "started_at": s.started_at,
        }

    # -- the device registry ------------------------------------------------------------
    def identify(self, cert_id: str | None) -> Identity | None:
        """The identity of an ``ACTIVE`` certificate, else None. A certificate registered
        since the last poll (``create-device`` in another process) is found at once."""
        if cert_id is None:
            return None
        identity = self._active.get(cert_id)
        if identity is None:
            identity = self.registry.lookup(cert_id)
            if identity is not None:
                self._active[cert_id] = identity
        return identity

    async def _watch_registry(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(REGISTRY_POLL_S)
            try:
                generation = await loop.run_in_executor(None, self.registry.generation)
                if generation == self._generation:
                    continue
                self._active = await loop.run_in_executor(None, self.registry.active)
                self._generation = generation
            except Exception:  # keep serving with what we know; try again
                log.exception("could not read the device registry")
                continue
            for conn in list(self._clients.values()):
                if conn.certificate_id not in self._active:
                    self.stats.revoked_sessions_ended += 1
                    log.warning("ending the session of %s: its certificate was revoked or deleted", conn.client_id)
                    if conn.version == 5:
                        conn.send(
                            wire.packet(wire.DISCONNECT, 0, bytes([wire.RC_NOT_AUTHORIZED]) + wire.enc_properties([]))
                        )
                    conn.close()

    # -- connections ------------------------------------------------------------------
    async def _on_client(self, reader, writer) -> None:
        self.stats.connections_total += 1
        conn = _Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each client callback in a task
        self._tasks.add(task)
        self._conns.add(conn)
        try:
            await conn.run()
        finally:
            self._tasks.discard(task)
            self._conns.discard(conn)

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
    def _woken(self) -> asyncio.Event:
        assert self._wake is not None, "the broker is not started"
        return self._wake

    def _accept(self, pending: _Pending) -> None:
        self._pending.append(pending)
        self._woken().set()

    async def _commit_loop(self) -> None:
        wake = self._woken()
        while True:
            await wake.wait()
            wake.clear()
            # Everything that arrived while the previous batch was being written goes in
            # one transaction: group commit is what makes durable-before-ack affordable.
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.gateway.store, [p.inbound for p in batch])
        except Exception:  # a storage failure must not kill the broker
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
