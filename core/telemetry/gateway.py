"""Where a device message enters the local world: ``DeviceGateway.publish(identity, topic, payload)``.

One function for "a message arrived from identity X on topic T", whoever carried it: the MQTT
broker (``core.telemetry.broker``) and the AWS-compatible IoT Data ``Publish`` endpoint both
call it, so both apply the same checks in the same order and store the same way:

1. **quota** — per identity, token buckets of messages/s and bytes/s (IoT Core's limits per
   connection: 100 publishes/s and 512 KiB/s). Counted first, so that refused attempts are
   bounded too. → ``Throttled`` (MQTT 5 reason 0x97, HTTP 429).
2. **policy** — like the template's IoT policy: a ``device`` publishes under the topic prefix
   only; a ``monitor`` never publishes. → ``AccessDenied`` (0x87, HTTP 403), recorded in the
   rule errors with the reason.
3. **disk guard** — while the data dir's free space is below the reserve, new data is
   refused before the disk fills, and accepted again once space is freed. → ``StorageFull``
   (0x97, HTTP 503).
4. **store** — the journal append (durable before anything is acknowledged); the rule engine
   takes it from there.

Messages over IoT Core's 128 KB are not refused here: the rule engine records them as errors
with a preview, as IoT Core's error action would, and the broker's packet limit bounds them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import AccessDenied, InvalidParameter, StorageFull, Throttled
from core.telemetry.journal import Journal
from core.telemetry.paths import telemetry_paths
from core.telemetry.registry import Identity
from core.telemetry.wire import valid_topic_filter, valid_topic_name

log = logging.getLogger(__name__)


@dataclass
class Inbound:
    """One message as it arrived: ``client_id`` is the sender's identity (thing name)."""

    topic: str
    payload: bytes
    client_id: str
    message_id: str | None = None


class TopicPolicy:
    """What an identity may do, like the template's IoT policy with
    ``${iot:Connection.Thing.ThingName}``: connect only as its own thing name; devices publish
    under the prefix and never subscribe; the app's monitor subscribes under the prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def may_connect(self, identity: Identity | None, client_id: str) -> bool:
        return identity is not None and client_id == identity.name

    def may_publish(self, identity: Identity, topic: str) -> bool:
        return identity.role == "device" and valid_topic_name(topic) and topic.startswith(self.prefix + "/")

    def may_subscribe(self, identity: Identity, topic_filter: str) -> bool:
        return (
            identity.role == "monitor"
            and valid_topic_filter(topic_filter)
            and topic_filter.startswith(self.prefix + "/")
        )


@dataclass(slots=True)
class _Bucket:
    messages: float
    size: float
    at: float


class Quotas:
    """Token buckets per identity name: ``messages_per_s`` and ``bytes_per_s`` refilled
    continuously, each holding at most one second's worth (0 = that quota is off)."""

    def __init__(self, messages_per_s: float, bytes_per_s: float, clock: Callable[[], float] = time.monotonic):
        self.messages_per_s, self.bytes_per_s = messages_per_s, bytes_per_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, name: str, size: int) -> str | None:
        """Count one message of ``size`` bytes for ``name``; the reason when it is over quota."""
        now = self._clock()
        with self._lock:
            b = self._buckets.get(name)
            if b is None:
                b = self._buckets[name] = _Bucket(self.messages_per_s, self.bytes_per_s, now)
            elapsed, b.at = now - b.at, now
            b.messages = min(self.messages_per_s, b.messages + elapsed * self.messages_per_s)
            b.size = min(self.bytes_per_s, b.size + elapsed * self.bytes_per_s)
            if self.messages_per_s and b.messages < 1:
                return f"over {self.messages_per_s:g} messages/s"
            if self.bytes_per_s and b.size < size:
                return f"over {self.bytes_per_s:g} bytes/s"
            b.messages -= 1
            b.size -= size
        return None


class DiskGuard:
    """Refuses new data while free space on ``path``'s file system is below ``reserve_bytes``
    (0 = off). ``statvfs`` is read at most every ``interval_s``."""

    def __init__(self, path: Path, reserve_bytes: int, interval_s: float = 0.5):
        self.path, self.reserve_bytes, self.interval_s = Path(path), int(reserve_bytes), interval_s
        self._free: int | None = None
        self._at = 0.0

    def free_bytes(self) -> int:
        now = time.monotonic()
        if self._free is None or now - self._at >= self.interval_s:
            where = self.path
            while not where.exists() and where != where.parent:  # the data dir is made later
                where = where.parent
            st = os.statvfs(where)
            self._free, self._at = st.f_bavail * st.f_frsize, now
        return self._free

    def check(self) -> None:
        """Raise ``StorageFull`` when free space is below the reserve."""
        if self.reserve_bytes and self.free_bytes() < self.reserve_bytes:
            raise StorageFull(
                f"storage full: {self.free_bytes() // 2**20} MB free on {self.path}, "
                f"below the {self.reserve_bytes // 2**20} MB reserve (FACEGATE_DISK_RESERVE_MB); "
                "new data is accepted again once space is freed"
            )


@dataclass
class GatewayStats:
    accepted: int = 0
    throttled: int = 0
    not_authorised: int = 0
    storage_full: int = 0
    by_identity: dict[str, int] = field(default_factory=dict)


class DeviceGateway:
    """The checks and the store every device message goes through (module docstring).
    ``store(list[Inbound])`` must make a batch durable or raise; ``refused(Inbound, reason)``
    records a refused message for the logs page."""

    def __init__(
        self,
        *,
        policy: TopicPolicy,
        quotas: Quotas,
        disk: DiskGuard,
        store: Callable[[list[Inbound]], object],
        refused: Callable[[Inbound, str], None] | None = None,
    ):
        self.policy, self.quotas, self.disk = policy, quotas, disk
        self._store, self._refused = store, refused
        self.stats = GatewayStats()
        self._last_warning: dict[str, float] = {}
        # How a refusal gets recorded: at once here; the broker defers it to its store thread.
        self.run_refusal: Callable[[Callable[[], None]], object] = lambda record: record()

    def admit(self, identity: Identity, topic: str, payload: bytes) -> None:
        """Check one message without storing it (the broker stores in batches). Raises
        ``Throttled``, ``AccessDenied`` or ``StorageFull``; an ``AccessDenied`` is also
        recorded through ``refused``."""
        reason = self.quotas.take(identity.name, len(payload))
        if reason is not None:
            self.stats.throttled += 1
            self._warn_now_and_then("quota", f"{identity.name} throttled: {reason}")
            raise Throttled(f"{identity.name} is {reason} (per-device quota)")
        if not self.policy.may_publish(identity, topic):
            self.stats.not_authorised += 1
            why = f"not authorised: {identity.name} ({identity.role}) may not publish to {topic}"
            if self._refused is not None:
                refused, inbound = self._refused, Inbound(topic, payload, identity.name)
                self.run_refusal(lambda: refused(inbound, why))
            raise AccessDenied(why)
        try:
            self.disk.check()
        except StorageFull as exc:
            self.stats.storage_full += 1
            self._warn_now_and_then("disk", exc.message)
            raise

    def store(self, batch: list[Inbound]) -> None:
        """Make admitted messages durable (one transaction); raises what the store raises."""
        self._store(batch)
        self.stats.accepted += len(batch)
        for inbound in batch:
            self.stats.by_identity[inbound.client_id] = self.stats.by_identity.get(inbound.client_id, 0) + 1

    def publish(self, identity: Identity, topic: str, payload: bytes, message_id: str | None = None) -> str:
        """A message arrived from ``identity`` on ``topic``: check it, store it durably and
        return its message id (``message_id`` when given: a redelivered id is stored once).
        Raises ``Throttled``, ``AccessDenied``, ``StorageFull``, or ``InvalidParameter`` for
        a payload that is not bytes."""
        if not isinstance(payload, (bytes, bytearray)):
            raise InvalidParameter("payload must be bytes")
        self.admit(identity, topic, bytes(payload))
        message_id = message_id or uuid.uuid4().hex
        self.store([Inbound(topic, bytes(payload), identity.name, message_id)])
        return message_id

    def _warn_now_and_then(self, what: str, message: str) -> None:
        # A flood must not become a flood of log lines: one per kind every 10 s.
        now = time.monotonic()
        if now - self._last_warning.get(what, -1e9) >= 10:
            self._last_warning[what] = now
            log.warning("%s", message)


def build_gateway(settings, *, store, refused=None) -> DeviceGateway:
    """A gateway with the settings' policy, quotas and disk reserve."""
    return DeviceGateway(
        policy=TopicPolicy(settings.topic_prefix),
        quotas=Quotas(settings.device_messages_per_second, settings.device_bytes_per_second),
        disk=DiskGuard(Path(settings.data_dir), int(settings.disk_reserve_mb * 2**20)),
        store=store,
        refused=refused,
    )


def open_gateway(settings) -> DeviceGateway:
    """A gateway for a process other than the telemetry stack's (e.g. the IoT Data HTTPS
    endpoint): it appends to the same journal, which the rule engine polls. Quotas count per
    process."""
    journal = Journal(telemetry_paths(settings).journal)

    def refused(inbound: Inbound, reason: str) -> None:
        journal.record_refused(inbound.topic, inbound.client_id, inbound.message_id, reason, inbound.payload)

    return build_gateway(settings, store=journal.append, refused=refused)
