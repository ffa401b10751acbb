"""Event ports: publishing the course's log records, and storing/querying them.

Kinds and topics (``<prefix>`` is ``Settings.topic_prefix``, default ``handson``):

| kind       | topic                        |
|------------|------------------------------|
| auth       | <prefix>/authLogData         |
| analysis   | <prefix>/analysisLogData     |
| door       | <prefix>/doorOpenLogData     |
| sensor     | <prefix>/sensorLogData       |

Payloads are built by ``core.events.records`` exactly as the course's (HANDSON.md step 4).
"""

from __future__ import annotations

import abc
import threading
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas costs ~0.3 s to import: only the code that builds a frame imports it
    import pandas as pd

from core.errors import InvalidParameter

KIND_TOPICS = {
    "auth": "authLogData",
    "analysis": "analysisLogData",
    "door": "doorOpenLogData",
    "sensor": "sensorLogData",
}
KINDS = tuple(KIND_TOPICS)


def topic_for(kind: str, prefix: str) -> str:
    return f"{prefix}/{KIND_TOPICS[kind]}"


def kind_for_topic(topic: str, prefix: str) -> str | None:
    for kind, suffix in KIND_TOPICS.items():
        if topic == f"{prefix}/{suffix}":
            return kind
    return None


class EventPublisher(abc.ABC):
    """Accepts records for delivery. ``publish`` returns once the record is durable
    (in aws/local MQTT mode: in the on-disk outbox), never silently drops one."""

    @abc.abstractmethod
    def publish(self, kind: str, payload: dict) -> str:
        """Accept ``payload`` for topic of ``kind``; return its message id."""

    def publish_many(self, kind: str, payloads: list[dict]) -> list[str]:
        """``publish`` each record in order; returns their ids. The MQTT publisher makes them
        durable in one write."""
        return [self.publish(kind, p) for p in payloads]

    # Whether ``publish_raw`` accepts any topic and bytes (the MQTT publishers, whose broker
    # and rules judge them), or only the four kinds go through ``publish`` (the direct one).
    accepts_any_topic: bool = False

    def publish_raw(self, topic: str, data: bytes) -> str:
        """Queue ``data`` as is for ``topic`` (the logs page's test form, ``iot publish
        --topic``); returns its message id. Raises InvalidParameter where the world has no
        broker to judge arbitrary messages (``accepts_any_topic`` is False)."""
        raise InvalidParameter(
            "publishing to any topic needs the MQTT publisher (start `python -m core serve` or set "
            "FACEGATE_PUBLISHER=mqtt)"
        )

    def status(self) -> dict:
        """``{"connected": bool, "outbox_depth": int, "endpoint": str}`` for the UI."""
        return {"connected": True, "outbox_depth": 0, "endpoint": "direct"}

    def wait_drained(self, timeout: float) -> bool:
        """True once every accepted record has left this process (tests, shutdown, the CLI),
        False on timeout. Publishers without an outbox have nothing pending."""
        return True

    def close(self) -> None:
        return None


class EventStore(abc.ABC):
    """Where stored events are read back for history and analytics (both worlds), and
    written by the local rule engine (local world only)."""

    @abc.abstractmethod
    def append(
        self,
        kind: str,
        records: list[dict],
        ids: list[str],
        *,
        received: list[int] | None = None,
        senders: list[str | None] | None = None,
    ) -> int:
        """Store records idempotently by id (QoS 1 redelivery is not doubled), with when each
        arrived (ms since the epoch; default now) and who sent it, where the store keeps them.
        Returns the number newly stored."""

    @abc.abstractmethod
    def query(
        self,
        kind: str,
        *,
        device: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        receipts: bool = False,
    ) -> pd.DataFrame:
        """Events of ``kind`` as a DataFrame, newest last; columns are the payload fields plus
        ``Datetime`` parsed as UTC timestamps. With ``receipts``, where the store keeps them,
        also ``ReceivedAt`` (when the message arrived, UTC), ``SentBy`` (the thing name of the
        certificate that sent it) and ``DatetimeAsSent`` (the ``Datetime`` text as the device
        wrote it): not payload fields, so the course's shape is unchanged."""

    def recent(self, kind: str, limit: int = 10) -> pd.DataFrame:
        """The ``limit`` records of ``kind`` stored last, newest first, as ``query`` returns
        them (with receipts where kept). This default takes the newest by ``Datetime``; the
        local store orders by the time of receipt, so a device's clock cannot pin a record
        dated 2099 to the top."""
        return self.query(kind, limit=limit, receipts=True).iloc[::-1].reset_index(drop=True)

    def purge_before(self, cutoff: datetime) -> int:
        """Delete the auth, door-open and analysis records older than ``cutoff`` (log
        retention); returns how many. This default deletes nothing: in aws the logs bucket's
        lifecycle rule expires them."""
        return 0

    def forget_person(self, name: str) -> int:
        """Remove the auth and door records naming ``name`` (``Person``); returns how many.
        This default removes nothing: the aws world's records are the S3 log objects, which
        ``core.usecases.retention.forget_person`` rewrites through the object store."""
        return 0

    def warm_columnar(self) -> threading.Thread | None:
        """Start loading the analytics copy in the background now, so the first analytics page
        does not wait for it (an app calls this at start). Returns the loading thread, or None
        where there is nothing to load (the default)."""
        return None

    def seal(self) -> int:
        """Write what a bulk load left in memory or the journal to the analytics copy now
        (demo-data calls it); returns how many segments were written. Nothing by default."""
        return 0

    def columnar(self, *, since=None, until=None):
        """A DuckDB connection with views ``auth``, ``analysis``, ``door`` and ``sensor`` whose
        columns are ``core.events.columns`` (``ts`` a UTC TIMESTAMP), holding at least the
        events in [since, until). The analytics SQL runs on it in both worlds. This default
        loads ``query`` results (the aws world); the local store overrides it with a
        persistent columnar copy. Raises what ``query`` raises. Close it when done."""
        import duckdb  # noqa: PLC0415 (only analytics needs it)

        from core.events.columns import from_payload_frame  # noqa: PLC0415

        con = duckdb.connect(":memory:", config={"threads": 2})
        for kind in KINDS:
            frame = from_payload_frame(kind, self.query(kind, since=since, until=until))
            frame.insert(0, "seq", range(len(frame)))
            con.register(f"_{kind}_frame", frame)
            con.execute(f"CREATE TABLE _{kind} AS SELECT * FROM _{kind}_frame")
            con.unregister(f"_{kind}_frame")
            con.execute(f"CREATE VIEW {kind} AS SELECT * REPLACE (make_timestamp(ts) AS ts) FROM _{kind}")
        return con
