"""The local rule engine: reads the journal in order, checks each message, runs the rules,
writes their actions into the stores, then advances its cursor.

Exactly-once in the stores without distributed transactions: every action is idempotent
for a given journal entry (events by message id; table items by their keys; objects under
a key fixed by the entry's receipt time; analysis batches planned in the journal before
they are written), and the cursor only moves after the actions are done. A kill -9 at any
point therefore replays at most the last batch, which rewrites the same things.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from core.errors import FaceGateError
from core.events.port import EventStore, kind_for_topic
from core.objects.port import ObjectStore
from core.telemetry.journal import Journal, JournalEntry, dumps
from core.telemetry.payloads import BadMessage, check_message
from core.telemetry.rules import MessageContext, Rule, render_template
from core.telemetry.sensor_table import LocalSensorTable

log = logging.getLogger(__name__)

CURSOR = "rules"
# How long the journal keeps processed messages: the window in which a redelivered copy is
# recognised by its id, and how far back the logs page's tail reaches. Auth logs name people,
# so this is also how long those names stay in the journal after they are stored.
JOURNAL_RETENTION_S = 7 * 24 * 3600
PRUNE_EVERY_S = 3600


class RuleEngine:
    """Run ``rules`` over ``journal``. ``run_forever`` in a thread (``start``/``stop``), or
    ``process_available`` + ``flush_streams`` step by step (tests, benchmarks)."""

    def __init__(
        self,
        journal: Journal,
        rules: list[Rule],
        *,
        prefix: str,
        events: EventStore,
        objects: ObjectStore,
        table: LocalSensorTable,
        table_name: str,
        stream_max_bytes: int = 5 * 1024 * 1024,
        stream_max_age_s: float = 60.0,
        batch_size: int = 500,
    ):
        self.journal, self.rules, self.prefix = journal, rules, prefix
        self.events, self.objects, self.table, self.table_name = events, objects, table, table_name
        self.stream_max_bytes, self.stream_max_age_s = stream_max_bytes, stream_max_age_s
        self.batch_size = batch_size
        self.processed = 0
        self.failed = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rule-objects")
        self._streams = sorted({(a.bucket, a.key) for r in rules for a in r.actions if a.kind == "stream"})

    # -- running ----------------------------------------------------------------------
    def notify(self) -> None:
        """New entries are in the journal."""
        self._wake.set()

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self.run_forever, name="rule-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Process what is stored, flush every stream buffer (as Firehose does on shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        while self.process_available():
            pass
        self.flush_streams(force=True)
        self._pool.shutdown(wait=True)

    def run_forever(self) -> None:
        self.journal.relax_sync_for_this_thread()
        next_prune = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()  # before looking, so a notify during the batch is not lost
            try:
                done = self.process_available()
                self.flush_streams()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                    self.journal.prune(int((time.time() - JOURNAL_RETENTION_S) * 1000))
            except Exception:  # a store hiccup must not end the engine; retry
                log.exception("rule engine batch failed; retrying")
                done = 0
                self._stop.wait(1.0)
            if not done:
                self._wake.wait(0.5)

    def recover(self) -> None:
        """Finish stream batches a previous run planned but did not complete."""
        for _bucket, stream in self._streams:
            for first, last, b, key in self.journal.pending_batches(stream):
                self._write_batch(stream, first, last, b, key)

    # -- rules ------------------------------------------------------------------------
    def process_available(self) -> int:
        """Run the rules over the next batch of journal entries; returns how many."""
        entries = self.journal.after(self.journal.cursor(CURSOR), self.batch_size)
        if not entries:
            return 0
        errors: list[tuple[JournalEntry, str]] = []
        table_items: list[tuple[JournalEntry, dict]] = []
        events: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        objects: list[tuple[JournalEntry, str, str, bytes]] = []
        buffered: list[tuple[str, int, bytes]] = []
        for entry in entries:
            kind = kind_for_topic(entry.topic, self.prefix)
            if kind is None:
                errors.append((entry, f"unknown topic {entry.topic}: no rule selects it"))
                continue
            try:
                record = check_message(kind, entry.payload)
            except BadMessage as exc:
                errors.append((entry, str(exc)))
                continue
            ctx = MessageContext(entry.topic, entry.client_id or "", entry.ts_ms)
            out = record  # SELECT *: the record is the payload unchanged
            for rule in self.rules:
                if not rule.matches(entry.topic):
                    continue
                for action in rule.actions:
                    if action.kind == "table":
                        table_items.append((entry, out))
                    elif action.kind == "events":
                        records, ids = events[action.event_kind]
                        records.append((entry, out))
                        ids.append(entry.msg_id)
                    elif action.kind == "object":
                        objects.append((entry, action.bucket, render_template(action.key, ctx), dumps(out)))
                    elif action.kind == "stream":
                        buffered.append((action.key, entry.seq, dumps(out)))
        if table_items:
            # DynamoDB refuses an item without its key attributes; IoT Core then runs the error
            # action for that action only, and the message's other actions still happen.
            keyed = []
            for entry, out in table_items:
                if isinstance(out.get("DeviceID"), str) and isinstance(out.get("Datetime"), str):
                    keyed.append(out)
                else:
                    errors.append((entry, "sensor table: DeviceID and Datetime must be strings (the table's keys)"))
            if keyed:
                self.table.put_items(self.table_name, keyed)
        for kind, (records, ids) in events.items():
            self._append_events(kind, records, ids, errors)
        # Each object is written atomically with its own fsync; writing several at once lets
        # the disk overlap them (one at a time, auth/door logs were bound to ~250 objects/s).
        results = zip(objects, self._pool.map(self._put_object, objects), strict=True)
        for (entry, _bucket, _key, _data), failure in results:
            if failure is None:
                continue
            if isinstance(failure, FaceGateError):  # e.g. a template that renders an invalid key
                errors.append((entry, f"object action failed: {failure.message}"))
            else:
                raise failure
        self.journal.commit_progress(CURSOR, entries[-1].seq, errors, buffered)
        # Once stored, a payload need not stay whole in the journal too: the logs page shows
        # a preview, and the stores (and the stream buffer) hold the message itself.
        self.journal.compact(entries[0].seq - 1, entries[-1].seq)
        self.processed += len(entries) - len(errors)
        self.failed += len(errors)
        for entry, reason in errors:
            log.warning("message %s on %s not stored: %s", entry.msg_id, entry.topic, reason)
        return len(entries)

    def _put_object(self, item) -> Exception | None:
        _entry, bucket, key, data = item
        try:
            self.objects.put_object(bucket, key, data, "application/json")
        except Exception as exc:  # noqa: BLE001 - judged by the caller, in the engine's thread
            return exc
        return None

    def _append_events(self, kind: str, records: list, ids: list[str], errors: list) -> None:
        """Append a kind's records; if the store refuses the batch, find the record(s) it
        refuses one by one so one poisoned message cannot stall the engine. Storage that
        is unavailable (locked, disk) raises, and the whole batch is retried."""
        try:
            self.events.append(
                kind,
                [r for _e, r in records],
                ids,
                received=[e.ts_ms for e, _r in records],
                senders=[e.client_id for e, _r in records],
            )
            return
        except (sqlite3.OperationalError, OSError):
            raise
        except Exception:  # noqa: BLE001 - narrowed down below, record by record
            log.warning("event store refused a %s batch; storing one by one", kind)
        for (entry, record), message_id in zip(records, ids, strict=True):
            try:
                self.events.append(kind, [record], [message_id], received=[entry.ts_ms], senders=[entry.client_id])
            except (sqlite3.OperationalError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - recorded as this message's error
                errors.append((entry, f"the event store refused it: {type(exc).__name__}: {exc}"))

    # -- Firehose-like streams --------------------------------------------------------
    def flush_streams(self, force: bool = False) -> int:
        """Write buffered analysis records as newline-separated JSON objects when the buffer
        is over its size or age limit (or ``force``). Returns objects written."""
        written = 0
        for bucket, stream in self._streams:
            while True:
                count, size, oldest = self.journal.buffer_state(stream)
                if not count or oldest is None:
                    break
                oldest_ms = self._ts_of(oldest)
                age = time.time() - oldest_ms / 1000
                if not (force or size >= self.stream_max_bytes or age >= self.stream_max_age_s):
                    break
                planned = self.journal.plan_batch(
                    stream, self.stream_max_bytes, bucket, lambda first, last, s=stream: self._batch_key(s, first, last)
                )
                if planned is None:
                    break
                # A batch planned earlier (then interrupted) is completed first, unchanged.
                for first, last, b, key in self.journal.pending_batches(stream):
                    self._write_batch(stream, first, last, b, key)
                    written += 1
        return written

    def _ts_of(self, seq: int) -> int:
        ts = self.journal.received_ms(seq)
        return ts if ts is not None else int(time.time() * 1000)

    def _batch_key(self, stream: str, first: int, last: int) -> str:
        when = datetime.fromtimestamp(self._ts_of(first) / 1000, UTC)
        # Firehose's layout: <prefix>YYYY/MM/DD/HH/<stream>-<version>-<YYYY-MM-DD-HH-MM-SS>-<id>
        return f"{stream}/{when:%Y/%m/%d/%H}/facegate-{stream}-1-{when:%Y-%m-%d-%H-%M-%S}-{first:012d}-{last:012d}"

    def _write_batch(self, stream: str, first: int, last: int, bucket: str, key: str) -> None:
        rows = self.journal.buffered(stream, first, last)
        if rows:
            self.objects.put_object(bucket, key, b"".join(data + b"\n" for _seq, data in rows), "application/json")
        self.journal.finish_batch(stream, first, last)

    def status(self) -> dict:
        return {
            "processed": self.processed,
            "errors": self.journal.error_count(),
            "backlog": self.journal.backlog(CURSOR),
        }
