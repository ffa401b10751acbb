"""Biometric privacy: how long face images are kept, and forgetting a person everywhere.

Retention (the same in both worlds, through the ports):

* a capture where someone was identified is kept ``retention_match_hours`` (default 7 days),
  one where nobody was ``retention_unknown_hours`` (default 8 hours) — photo, thumbnail
  and history record together (``core.usecases.history.purge_expired``);
* photos and thumbnails in the photos bucket that no history record explains (a device's
  upload for ``/search``, what a crash left between two writes) are treated as captures too:
  kept ``retention_match_hours`` when an auth log names the photo (``PictureName``) as one in
  which someone was identified (the course's device logs its /search results that way), else
  ``retention_unknown_hours``;
* enrolment photos stay until the person is deleted;
* half-written files that a killed process left in the local object store (``.tmp-*``, which
  may hold a face photo) are deleted once they are ten minutes old.

``python -m core serve`` runs ``purge`` every ``purge_interval_minutes``; ``python -m core
privacy purge`` runs it once. In the aws world the photos bucket's lifecycle rule (set by
``deploy up`` from the same setting) is the backstop for whatever the app does not see.

``forget_person`` erases a person: their face vectors in every collection, their enrolment
photos and thumbnails, and every capture (photo, thumbnail, record) in which they were
identified or to which they were added by a correction; locally the face store's freed
pages and WAL are then overwritten. Their name also leaves the logs: the auth and door records
naming them in the event store (and its columnar copy), in the local broker's journal and the
publishers' outbox, and in the log objects the rules wrote (``*-auth-log-data.json``, ``*-door-open-log-data.json`` and
rule-error copies: rewritten without those records, deleted when nothing else is left) — in
aws these objects are the event store.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.access.sessions import operator, require_admin
from core.bootstrap.services import Services
from core.errors import CollectionNotFound, FaceGateError, ResourceNotFound
from core.events.records import json_lines, parse_json_lines, quotes_name
from core.usecases import history, people

log = logging.getLogger(__name__)


def human_duration(hours: float, lang: str = "en") -> str:
    """``168`` -> "7 days" / "7 日", ``8`` -> "8 hours" / "8 時間", ``0`` -> "0 hours"."""
    if hours >= 24 and hours % 24 == 0:
        n = int(hours // 24)
        return f"{n} 日" if lang == "ja" else f"{n} day{'s' if n != 1 else ''}"
    text = f"{hours:g}"
    return f"{text} 時間" if lang == "ja" else f"{text} hour{'s' if hours != 1 else ''}"


@dataclass
class PurgeReport:
    captures: int  # expired captures deleted (photo, thumbnail, record)
    orphans: int  # photos / thumbnails without a record, and interrupted writes, deleted
    at: datetime
    log_records: int = 0  # event-store records past the log retention (local world)
    log_objects: int = 0  # rule log objects past the log retention (local world)

    def as_dict(self) -> dict:
        return {
            "captures": self.captures,
            "orphans": self.orphans,
            "log_records": self.log_records,
            "log_objects": self.log_objects,
            "at": self.at.isoformat(),
        }


def purge(services: Services, now: datetime | None = None) -> PurgeReport:
    """Delete expired captures, unexplained photos and (locally) logs older than the log
    retention. Needs an admin (or the operator). Returns what was deleted; raises AdminRequired."""
    require_admin()
    now = now or datetime.now(UTC)
    captures = history.purge_expired(services, now)
    people.purge_undo(services, now)  # deleted faces' photos kept for undo
    orphans = _purge_orphans(services, now) + services.objects.sweep_interrupted_writes()
    log_cutoff = now - timedelta(days=services.settings.retention_log_days)
    log_records = services.events.purge_before(log_cutoff)
    # In aws the logs bucket's lifecycle rule (deploy up, from the same setting) expires them.
    log_objects = _purge_log_objects(services, log_cutoff) if services.settings.backend == "local" else 0
    return PurgeReport(captures, orphans, now, log_records, log_objects)


def _purge_log_objects(services: Services, cutoff: datetime) -> int:
    bucket = services.settings.logs_bucket
    n = 0
    for obj in services.objects.list_objects(bucket, ""):
        if obj.last_modified < cutoff:
            services.objects.delete_object(bucket, obj.key)
            n += 1
    return n


def _identified_uploads(services: Services, now: datetime) -> set[str]:
    """Photo keys that an auth log within the match retention names as identified
    (``PictureName`` with ``AuthenticationResult`` true): a device's upload that /search
    recognised is an identified capture, not an unexplained file."""
    s = services.settings
    if s.retention_match_hours <= s.retention_unknown_hours:
        return set()
    since = now - timedelta(hours=s.retention_match_hours) - timedelta(days=1)  # a day of zone slack
    try:
        frame = services.events.query("auth", since=since.isoformat())
    except FaceGateError as exc:
        log.warning("auth logs unreadable, device uploads get the unknown-capture retention: %s", exc)
        return set()
    if frame.empty or "PictureName" not in frame or "AuthenticationResult" not in frame:
        return set()
    hit = frame["AuthenticationResult"].map(lambda v: v is True or str(v).lower() in ("true", "1"))
    return {str(name) for name in frame.loc[hit, "PictureName"].dropna()}


def _purge_orphans(services: Services, now: datetime) -> int:
    s = services.settings
    bucket = s.photos_bucket
    keep_until = now - timedelta(hours=s.retention_unknown_hours)
    keep_identified_until = now - timedelta(hours=s.retention_match_hours)
    identified: set[str] | None = None  # read once, and only when an old upload is found
    recorded = {
        o.key[len(history.HISTORY_PREFIX) : -len(".json")]
        for o in services.objects.list_objects(bucket, history.HISTORY_PREFIX)
    }
    n = 0
    for obj in services.objects.list_objects(bucket, ""):
        if obj.key.startswith(history.HISTORY_PREFIX) or obj.last_modified > keep_until:
            continue
        name = obj.key[len(history.THUMBS_PREFIX) :] if obj.key.startswith(history.THUMBS_PREFIX) else obj.key
        if name.rsplit(".", 1)[0] in recorded:
            continue  # a live capture's photo or thumbnail: its record decides
        if obj.last_modified > keep_identified_until:
            if identified is None:
                identified = _identified_uploads(services, now)
            if name in identified:
                continue  # an identified device upload: kept as long as an identified capture
        services.objects.delete_object(bucket, obj.key)
        n += 1
    return n


def _collections(services: Services) -> list[str]:
    out, token = [], None
    while True:
        page = services.faces.list_collections(**({"NextToken": token} if token else {}))
        out += page.get("CollectionIds", [])
        token = page.get("NextToken")
        if not token:
            return out


def forget_person(services: Services, name: str) -> dict:
    """Erase ``name`` everywhere (see the module doc). Needs an admin.

    ``name`` is a person's display name or id. Returns counts ``{"faces", "objects",
    "captures", "collections", "log_records"}`` and ``"erasure"``, the opaque id the log line
    carries instead of the name. Raises InvalidPersonName for a name that cannot be a person,
    ResourceNotFound when nothing at
    all was found under that name, AdminRequired."""
    require_admin()
    try:
        name = people.person_key(name)
    except people.InvalidPersonName:  # a display name such as 「山田 太郎」: find whose it is
        found = people.find_person(services, name)
        if found is None:
            raise
        name = found.name
    faces = collections = 0
    for cid in _collections(services):
        try:
            ids = [f["FaceId"] for f in services.faces.faces_by_external_id(cid).get(name, [])]
        except CollectionNotFound:
            continue  # deleted meanwhile
        for start in range(0, len(ids), 4096):
            services.faces.delete_faces(CollectionId=cid, FaceIds=ids[start : start + 4096])
        faces += len(ids)
        collections += bool(ids)
    bucket = services.settings.faces_bucket
    objects = services.objects.list_objects(bucket, f"{people.PREFIX}{name}/")
    for obj in objects:
        services.objects.delete_object(bucket, obj.key)
    captures = 0
    for cap in history.list_captures(services, limit=10**9):
        named = {f.person for f in cap.faces} | {c.get("person") for c in cap.corrections}
        if name in named:
            history.delete_capture(services, cap.capture_id)
            captures += 1
    services.faces.scrub_deleted()
    log_records = services.events.forget_person(name) + _forget_in_log_objects(services, name)
    log_records += services.telemetry.forget_person(name)
    if not (faces or objects or captures or log_records):
        raise ResourceNotFound(f"nothing is stored about {name!r}")
    # Never the name: logs leave the data directory (journald, a terminal, a support ticket).
    # The erasure id ties this line to what the caller was told.
    erasure = secrets.token_hex(6)
    log.warning(
        "forgot a person (erasure %s): %d faces, %d objects, %d captures, %d log records",
        erasure,
        faces,
        len(objects),
        captures,
        log_records,
    )
    return {
        "erasure": erasure,
        "faces": faces,
        "objects": len(objects),
        "captures": captures,
        "collections": collections,
        "log_records": log_records,
    }


def delete_person(services: Services, name: str) -> dict:
    """Erase ``name`` everywhere: every face vector (in every collection), every stored photo
    and thumbnail, the captures in which they were identified or added by a correction, and the
    auth and door log records naming them (``forget_person``). Returns counts;
    raises ResourceNotFound, AdminRequired."""
    require_admin()
    people.get_person(services, name)
    counts = forget_person(services, name)
    return {k: counts[k] for k in ("faces", "objects", "captures", "log_records")}


_PERSON_LOGS = ("-auth-log-data.json", "-door-open-log-data.json")
_PERSON_ERROR_LOGS = ("rule-errors/auth/", "rule-errors/door/")


def _forget_in_log_objects(services: Services, name: str) -> int:
    """Rewrite the rules' auth and door log objects without the records naming ``name``
    (delete an object left empty). Returns how many records went. Names are compared
    decoded (a device may send ``"Pe\\u006eny"``); a rule-error copy names the person when
    its IoT error message's ``base64OriginalPayload`` quotes the name."""
    bucket = services.settings.logs_bucket
    removed = 0
    for obj in services.objects.list_objects(bucket, ""):
        error_copy = obj.key.startswith(_PERSON_ERROR_LOGS)
        if not (obj.key.endswith(_PERSON_LOGS) or error_copy):
            continue
        body = services.objects.get_object(bucket, obj.key)
        if not error_copy and not quotes_name(body.decode("utf-8", errors="replace"), name):
            continue  # the common case, without parsing
        records = parse_json_lines(body)
        kept = [r for r in records if not _names(r, name)]
        if len(kept) == len(records):
            continue
        removed += len(records) - len(kept)
        if kept:
            services.objects.put_object(bucket, obj.key, json_lines(kept), "application/json")
        else:
            services.objects.delete_object(bucket, obj.key)
    return removed


def _names(record: dict, name: str) -> bool:
    """Whether a log record (or an IoT rule's error message about one) names ``name``."""
    if record.get("Person") == name:
        return True
    original = record.get("base64OriginalPayload")
    if not isinstance(original, str):
        return False
    try:
        text = base64.b64decode(original, validate=False).decode("utf-8", errors="replace")
    except ValueError:
        return False
    return quotes_name(text, name)


class Purger:
    """Runs ``purge`` every ``settings.purge_interval_minutes`` in a daemon thread (as the
    operator) until ``stop()``. A failing purge is logged and tried again next time."""

    def __init__(self, services: Services, interval_s: float | None = None):
        self.services = services
        self.interval_s = interval_s or services.settings.purge_interval_minutes * 60
        self.runs = 0
        self.last: PurgeReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facegate-purge", daemon=True)

    def start(self) -> Purger:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            try:
                with operator(self.services.settings, "purge"):
                    self.last = purge(self.services)
                if self.last.captures or self.last.orphans:
                    log.warning(
                        "purged %d expired captures and %d unexplained photos", self.last.captures, self.last.orphans
                    )
            except FaceGateError as exc:
                log.warning("purge failed: %s", exc)
            except Exception:  # the purge must keep running next time
                log.exception("purge failed")
            self.runs += 1
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
