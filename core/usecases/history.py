"""Match history: every capture's outcome, readable and correctable in both worlds.

Each capture keeps three objects in ``settings.photos_bucket`` (through ``services.objects``,
so S3 in the aws world and files locally):

    <stem>_<YYYYmmddHHMMSS>.jpg              the photo (the course's key, its PictureName)
    thumbs/<stem>_<YYYYmmddHHMMSS>.jpg       a small copy with boxes and names drawn on it
    history/<stem>_<YYYYmmddHHMMSS>.json     what happened: faces, matches, door, corrections

Corrections (``correct_as_person``, ``enrol_as_new_person``, ``mark_wrong_match``) change the
collection through ``core.usecases.people`` and note what was done in the record. Captures expire after
``retention_match_hours`` (someone was identified) or ``retention_unknown_hours`` (nobody was)
— ``purge_expired`` deletes all three objects. Reading and changing the history needs an
admin (``core.access.sessions.require_admin``); only ``save_capture`` is the camera's, a viewer's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.access.sessions import require_admin
from core.bootstrap.services import Services
from core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from core.images.codec import decode_image
from core.images.crop import face_crop
from core.usecases import people

HISTORY_PREFIX = "history/"
THUMBS_PREFIX = "thumbs/"
UNKNOWN = "__unknown__"  # the "unknown faces" filter


@dataclass
class CaptureFace:
    box: dict
    person: str | None
    similarity: float | None
    face_id: str | None  # the enrolled face that matched
    searched: bool
    largest: bool
    age_range: tuple | None = None
    gender: str | None = None


@dataclass
class Capture:
    capture_id: str
    picture_name: str
    when: datetime
    device_id: str
    threshold: float
    faces: list[CaptureFace]
    door_opened: bool
    person: str | None
    corrections: list[dict] = field(default_factory=list)

    @property
    def thumb_key(self) -> str:
        return THUMBS_PREFIX + self.picture_name

    @property
    def identified(self) -> bool:
        return self.person is not None


def _bucket(services: Services) -> str:
    return services.settings.photos_bucket


def _record_key(capture_id: str) -> str:
    if not capture_id or "/" in capture_id or capture_id.startswith("."):
        raise InvalidParameter(f"invalid capture id {capture_id!r}")
    return f"{HISTORY_PREFIX}{capture_id}.json"


def save_capture(services: Services, result, thumbnail: bytes) -> None:
    """Store the history record and thumbnail of a ``core.usecases.capture.CaptureResult``."""
    faces = []
    for f in result.faces:
        age = f.detail.get("AgeRange")
        gender = f.detail.get("Gender")
        faces.append(
            {
                "box": f.box,
                "person": f.person,
                "similarity": f.similarity,
                "face_id": f.face_id,
                "searched": f.searched,
                "largest": f.largest,
                "age_range": [age.get("Low"), age.get("High")] if age else None,
                "gender": gender.get("Value") if gender else None,
            }
        )
    record = {
        "version": 1,
        "capture_id": result.capture_id,
        "picture_name": result.picture_name,
        "when": result.when.isoformat(),
        "device_id": result.device_id,
        "threshold": result.threshold,
        "collection": services.settings.collection,
        "faces": faces,
        "door_opened": result.door_opened,
        "person": result.person,
        "corrections": [],
    }
    services.objects.put_object(_bucket(services), THUMBS_PREFIX + result.picture_name, thumbnail, "image/jpeg")
    _write(services, result.capture_id, record)


def _write(services: Services, capture_id: str, record: dict) -> None:
    services.objects.put_object(
        _bucket(services), _record_key(capture_id), json.dumps(record, ensure_ascii=False).encode(), "application/json"
    )


def _read(services: Services, capture_id: str) -> dict:
    try:
        return json.loads(services.objects.get_object(_bucket(services), _record_key(capture_id)))
    except ValueError:
        raise ResourceNotFound(f"history record {capture_id} is unreadable") from None


def _to_capture(rec: dict) -> Capture:
    faces = [
        CaptureFace(
            f["box"],
            f.get("person"),
            f.get("similarity"),
            f.get("face_id"),
            f.get("searched", True),
            f.get("largest", False),
            tuple(f["age_range"]) if f.get("age_range") else None,
            f.get("gender"),
        )
        for f in rec.get("faces", [])
    ]
    return Capture(
        rec["capture_id"],
        rec["picture_name"],
        datetime.fromisoformat(rec["when"]),
        rec.get("device_id", ""),
        float(rec.get("threshold", 0)),
        faces,
        bool(rec.get("door_opened")),
        rec.get("person"),
        list(rec.get("corrections", [])),
    )


def get_capture(services: Services, capture_id: str) -> Capture:
    """Raises ResourceNotFound (also for an expired or deleted capture)."""
    require_admin()
    return _to_capture(_read(services, capture_id))


def list_captures(
    services: Services,
    person: str | None = None,
    limit: int = 50,
    since: datetime | None = None,
    door: bool | None = None,
) -> list[Capture]:
    """Newest first. ``person`` filters to captures where that person was identified on any
    face; ``UNKNOWN`` to captures with at least one face nobody matched. ``since`` keeps
    captures taken at or after it; ``door`` True/False keeps those that did / did not open it."""
    require_admin()
    infos = services.objects.list_objects(_bucket(services), HISTORY_PREFIX)
    # Newest objects first, reading only until ``limit`` match (one GET per record on S3). A
    # correction rewrites a record, so order by the capture time once read.
    infos.sort(key=lambda o: o.last_modified, reverse=True)
    out: list[Capture] = []
    for info in infos:
        if len(out) >= limit:
            break
        try:
            cap = _to_capture(json.loads(services.objects.get_object(_bucket(services), info.key)))
        except (ResourceNotFound, ValueError, KeyError, TypeError):
            continue  # deleted meanwhile, or not ours: skip rather than break the page
        if person == UNKNOWN and all(f.person for f in cap.faces):
            continue
        if person not in (None, UNKNOWN) and all(f.person != person for f in cap.faces):
            continue
        if (since is not None and cap.when < since) or (door is not None and cap.door_opened != door):
            continue
        out.append(cap)
    out.sort(key=lambda c: c.when, reverse=True)
    return out[:limit]


def thumbnail(services: Services, capture: Capture) -> bytes | None:
    require_admin()
    try:
        return services.objects.get_object(_bucket(services), capture.thumb_key)
    except ResourceNotFound:
        return None


def photo(services: Services, capture: Capture) -> bytes:
    """The stored photo; raises ResourceNotFound."""
    require_admin()
    return services.objects.get_object(_bucket(services), capture.picture_name)


def delete_capture(services: Services, capture_id: str) -> None:
    """Delete the photo, thumbnail and record of one capture (absent parts are fine)."""
    require_admin()
    try:
        cap = get_capture(services, capture_id)
        names = [cap.picture_name, cap.thumb_key]
    except ResourceNotFound:
        names = [f"{capture_id}.jpg", f"{THUMBS_PREFIX}{capture_id}.jpg"]
    for key in names:
        services.objects.delete_object(_bucket(services), key)
    services.objects.delete_object(_bucket(services), _record_key(capture_id))


def delete_captures_of(services: Services, person: str) -> int:
    """Delete every capture in which ``person`` was identified. Returns how many."""
    require_admin()
    caps = list_captures(services, person=person, limit=10**9)
    for cap in caps:
        delete_capture(services, cap.capture_id)
    return len(caps)


def purge_expired(services: Services, now: datetime | None = None) -> int:
    """Delete captures older than the retention settings. Returns how many were deleted."""
    require_admin()
    now = now or datetime.now(UTC)
    s = services.settings
    n = 0
    for cap in list_captures(services, limit=10**9):
        hours = s.retention_match_hours if cap.identified else s.retention_unknown_hours
        if now - cap.when > timedelta(hours=hours):
            delete_capture(services, cap.capture_id)
            n += 1
    return n


def _face(cap: Capture, face_index: int) -> CaptureFace:
    if not 0 <= face_index < len(cap.faces):
        raise InvalidParameter(f"capture {cap.capture_id} has no face {face_index + 1}")
    return cap.faces[face_index]


def _note(services: Services, capture_id: str, correction: dict) -> None:
    rec = _read(services, capture_id)
    rec.setdefault("corrections", []).append({**correction, "at": datetime.now(UTC).isoformat()})
    _write(services, capture_id, rec)


def _enrol_face(services: Services, cap: Capture, face_index: int, person: str) -> people.ImageOutcome:
    face = _face(cap, face_index)
    rgb = decode_image(photo(services, cap)).rgb
    people.ensure_collection(services)
    # A generous crop keeps only this face (MaxFaces=1 would otherwise take the largest) and
    # the capture already passed detection, so the quality filter is relaxed to LOW.
    return people.index_one(
        services,
        person,
        face_crop(rgb, face.box, margin=0.5, min_side=0),
        f"{cap.picture_name}#{face_index + 1}",
        source="correction",
        quality_filter="LOW",
    )


def correct_as_person(services: Services, capture_id: str, person: str, face_index: int = 0) -> people.ImageOutcome:
    """ "This is <person>": enrol face ``face_index`` of the capture to an existing person.

    Returns the IndexFaces outcome. Raises ResourceNotFound (capture or person missing)."""
    require_admin()
    cap = get_capture(services, capture_id)
    person = people.get_person(services, person).name
    outcome = _enrol_face(services, cap, face_index, person)
    if outcome.indexed:
        _note(
            services,
            capture_id,
            {"action": "this_is", "face": face_index, "person": person, "face_id": outcome.face_id},
        )
    return outcome


def enrol_as_new_person(services: Services, capture_id: str, name: str, face_index: int = 0) -> people.ImageOutcome:
    """Enrol face ``face_index`` of the capture as a new person ``name``.

    Raises InvalidPersonName, ResourceAlreadyExists (the name is taken) and ResourceNotFound."""
    require_admin()
    cap = get_capture(services, capture_id)
    person, display, exists = people.resolve_person(services, name)
    if exists:
        raise ResourceAlreadyExists(f"a person named {display!r} already exists")
    outcome = _enrol_face(services, cap, face_index, person)
    if outcome.indexed:
        people.set_display_name(services, person, display)
        _note(
            services,
            capture_id,
            {"action": "new_person", "face": face_index, "person": person, "face_id": outcome.face_id},
        )
    return outcome


def wrong_match_cost(services: Services, capture_id: str, face_index: int = 0) -> dict:
    """What "wrong match" would delete, to say before it does: ``{"person", "display_name",
    "face_id", "faces"}`` with ``faces`` the person's enrolled faces now (1 = their only face,
    after which they are no longer identified; 0 = that face is already gone). Raises
    InvalidParameter when the face had no match."""
    require_admin()
    cap = get_capture(services, capture_id)
    face = _face(cap, face_index)
    if not face.person or not face.face_id:
        raise InvalidParameter("this face was not matched to anyone")
    try:
        person = people.get_person(services, face.person)
        faces, display = (person.face_count if face.face_id in person.face_ids else 0), person.display_name
    except ResourceNotFound:
        faces, display = 0, people.display_names(services, [face.person]).get(face.person, face.person)
    return {"person": face.person, "display_name": display, "face_id": face.face_id, "faces": faces}


def mark_wrong_match(services: Services, capture_id: str, face_index: int = 0) -> dict:
    """ "Wrong match": delete the enrolled face that produced this match. Its photo is kept for
    ``people.UNDO_MINUTES`` so ``undo_wrong_match`` can bring it back.

    Returns ``{"person", "face_id", "deleted"}`` — ``deleted`` is False when that face was
    already gone. Raises InvalidParameter when the face had no match."""
    require_admin()
    cap = get_capture(services, capture_id)
    face = _face(cap, face_index)
    if not face.person or not face.face_id:
        raise InvalidParameter("this face was not matched to anyone")
    deleted = people.delete_face(services, face.person, face.face_id, keep_for_undo=True)
    _note(
        services,
        capture_id,
        {
            "action": "wrong_match",
            "face": face_index,
            "person": face.person,
            "face_id": face.face_id,
            "deleted": deleted,
        },
    )
    return {"person": face.person, "face_id": face.face_id, "deleted": deleted}


def undo_wrong_match(services: Services, capture_id: str, face_index: int = 0) -> people.ImageOutcome:
    """Bring back the face a "wrong match" deleted (within ``people.UNDO_MINUTES``). Returns
    the IndexFaces outcome; raises ResourceNotFound when it can no longer be brought back."""
    require_admin()
    cap = get_capture(services, capture_id)
    face = _face(cap, face_index)
    if not face.person or not face.face_id:
        raise InvalidParameter("this face was not matched to anyone")
    outcome = people.undo_delete_face(services, face.person, face.face_id)
    if outcome.indexed:
        _note(services, capture_id, {"action": "undo_wrong_match", "face": face_index, "person": face.person})
    return outcome
