"""People: the collection seen as persons (enrol, list, rename, delete), the same in both worlds.

A person is an ``ExternalImageId`` in the face collection — the name identification returns
and the course's auth log writes as ``Person``. Each enrolment photo is kept in
``settings.faces_bucket`` so a person can be renamed and fully deleted:

    people/<person>/<enrolment id>.jpg         the photo that was indexed
    people/<person>/<enrolment id>.thumb.jpg   a small face thumbnail for the UI
    people/<person>/<enrolment id>.json        {"face_ids", "enrolled_at", "source", ...}

Rename: Rekognition cannot change an ``ExternalImageId``, so ``rename_person`` re-indexes every
stored enrolment photo under the new name, then deletes the old faces and photos. We chose
re-indexing over a separate id->name registry because the name must stay what
SearchFacesByImage returns: the course's Web API, auth logs and IoT rules all carry it.

Every write (``enrol_person``, ``rename_person``, ``delete_face``; deleting a whole person is
``core.usecases.retention.delete_person``, which also forgets them in the logs) and every
read of people's names and photos is one function here that calls ``core.access.sessions.require_admin``
first: a viewer gets ``AdminRequired`` however the function is reached.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.access.sessions import require_admin
from core.errors import (
    CollectionNotFound,
    FaceGateError,
    ImageTooLarge,
    InvalidImageFormat,
    InvalidParameter,
    NoFaceInImage,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from core.images.codec import decode_image, encode_jpeg

PREFIX = "people/"
# Rekognition's ExternalImageId alphabet. Spaces become underscores (``Taro Yamada`` ->
# ``Taro_Yamada``, the course's own example); anything else is refused with a clear error.
_NAME = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
THUMB_SIDE = 160


class InvalidPersonName(InvalidParameter):
    """A person name that cannot be an ExternalImageId (letters, digits, _ . - : only)."""


@dataclass
class ImageOutcome:
    """What happened to one enrolment image: indexed (with its FaceId) or why not."""

    source_name: str
    indexed: bool
    face_id: str | None = None
    reasons: list[str] = field(default_factory=list)  # IndexFaces reasons, or NO_FACE
    error: FaceGateError | None = None  # unreadable / too large image


@dataclass
class Enrolment:
    enrolment_id: str
    person: str
    face_ids: list[str]
    enrolled_at: datetime | None
    source: str
    photo_key: str | None
    thumb_key: str | None


@dataclass
class Person:
    name: str
    face_ids: list[str]
    enrolments: list[Enrolment]
    enrolled_at: datetime | None  # the earliest enrolment we know of
    thumb_key: str | None

    @property
    def face_count(self) -> int:
        return len(self.face_ids)


def person_key(name: str) -> str:
    """The ExternalImageId for a typed name. Raises InvalidPersonName."""
    key = re.sub(r"\s+", "_", str(name or "").strip())
    if not _NAME.match(key) or set(key) <= {"."}:
        raise InvalidPersonName(
            f"{name!r} cannot be a person name: use letters, digits, _ . - : (for example Taro_Yamada)"
        )
    return key


def anyone_enrolled(services) -> bool:
    """Whether the configured collection holds any face. Anyone may ask (the camera page tells
    a first-time user why nobody is recognised); it reveals a yes or no, not who."""
    try:
        count = services.faces.describe_collection(CollectionId=services.settings.collection).get("FaceCount", 0)
    except CollectionNotFound:
        return False
    return count > 0


def ensure_collection(services) -> None:
    """Create the configured collection when it does not exist yet."""
    cid = services.settings.collection
    try:
        services.faces.describe_collection(CollectionId=cid)
    except CollectionNotFound:
        try:
            services.faces.create_collection(CollectionId=cid)
        except ResourceAlreadyExists:
            pass  # created by someone else meanwhile


def _bucket(services) -> str:
    return services.settings.faces_bucket


def _face_thumbnail(rgb, box: dict | None) -> bytes:
    """A square-ish crop around ``box`` (ratios) with some margin, as a small JPEG."""
    h, w = rgb.shape[:2]
    if box:
        cx = (box["Left"] + box["Width"] / 2) * w
        cy = (box["Top"] + box["Height"] / 2) * h
        half = max(box["Width"] * w, box["Height"] * h) * 0.8
        left, top = int(max(0, cx - half)), int(max(0, cy - half))
        right, bottom = int(min(w, cx + half)), int(min(h, cy + half))
        if right - left > 4 and bottom - top > 4:
            rgb = rgb[top:bottom, left:right]
    return encode_jpeg(rgb, quality=85, max_side=THUMB_SIDE)


def _read_json(services, key: str) -> dict | None:
    try:
        return json.loads(services.objects.get_object(_bucket(services), key))
    except (ResourceNotFound, ValueError):
        return None


def _write_enrolment(services, person: str, enrolment_id: str, photo: bytes, thumb: bytes, meta: dict) -> None:
    base = f"{PREFIX}{person}/{enrolment_id}"
    services.objects.put_object(_bucket(services), base + ".jpg", photo, "image/jpeg")
    services.objects.put_object(_bucket(services), base + ".thumb.jpg", thumb, "image/jpeg")
    services.objects.put_object(
        _bucket(services), base + ".json", json.dumps(meta, ensure_ascii=False).encode(), "application/json"
    )


def _delete_enrolment_objects(services, person: str, enrolment_id: str) -> None:
    base = f"{PREFIX}{person}/{enrolment_id}"
    for suffix in (".jpg", ".thumb.jpg", ".json"):
        services.objects.delete_object(_bucket(services), base + suffix)


def index_one(
    services, person: str, image: bytes, source_name: str, source: str = "upload", quality_filter: str = "AUTO"
) -> ImageOutcome:
    """Index the largest face of one image as ``person`` and keep the photo.

    Returns an ImageOutcome (never raises for a bad image: the error is in the outcome so a
    batch of uploads reports every image). Raises only for collection/service failures.
    """
    require_admin()
    try:
        decoded = decode_image(image)
        photo = image if decoded.format == "JPEG" else encode_jpeg(decoded.rgb, quality=92)
        resp = services.faces.index_faces(
            CollectionId=services.settings.collection,
            Image={"Bytes": photo},
            ExternalImageId=person,
            MaxFaces=1,
            QualityFilter=quality_filter,
            DetectionAttributes=["DEFAULT"],
        )
    except NoFaceInImage:
        return ImageOutcome(source_name, False, reasons=["NO_FACE"])
    except (InvalidImageFormat, ImageTooLarge) as exc:
        return ImageOutcome(source_name, False, error=exc)
    records = resp.get("FaceRecords", [])
    if not records:
        reasons = sorted({r for u in resp.get("UnindexedFaces", []) for r in u.get("Reasons", [])})
        return ImageOutcome(source_name, False, reasons=reasons or ["NO_FACE"])
    face = records[0]["Face"]
    enrolment_id = uuid.uuid4().hex
    meta = {
        "face_ids": [face["FaceId"]],
        "enrolled_at": datetime.now(UTC).isoformat(),
        "source": source,
        "source_name": source_name,
        "quality_filter": quality_filter,
        "box": face.get("BoundingBox"),
    }
    try:
        _write_enrolment(
            services, person, enrolment_id, photo, _face_thumbnail(decoded.rgb, face.get("BoundingBox")), meta
        )
    except BaseException:
        # Without its photo the face could not be renamed or shown: undo the index.
        services.faces.delete_faces(CollectionId=services.settings.collection, FaceIds=[face["FaceId"]])
        _delete_enrolment_objects(services, person, enrolment_id)
        raise
    return ImageOutcome(source_name, True, face_id=face["FaceId"])


def enrol_person(services, name: str, images: list[tuple[str, bytes]], source: str = "upload") -> list[ImageOutcome]:
    """Enrol ``images`` (``(file name, bytes)`` pairs) as the person ``name``.

    Returns one ImageOutcome per image, in order. Raises InvalidPersonName for a bad name and
    InvalidParameter when no image is given.
    """
    require_admin()
    person = person_key(name)
    if not images:
        raise InvalidParameter("give at least one photo to enrol")
    ensure_collection(services)
    return [index_one(services, person, data, file_name, source) for file_name, data in images]


def _enrolments(services) -> dict[str, list[Enrolment]]:
    out: dict[str, list[Enrolment]] = {}
    keys = {o.key for o in services.objects.list_objects(_bucket(services), PREFIX)}
    for key in sorted(keys):
        if not key.endswith(".json"):
            continue
        parts = key[len(PREFIX) :].split("/")
        if len(parts) != 2:
            continue
        person, enrolment_id = parts[0], parts[1][: -len(".json")]
        meta = _read_json(services, key) or {}
        when = meta.get("enrolled_at")
        photo = f"{PREFIX}{person}/{enrolment_id}.jpg"
        thumb = f"{PREFIX}{person}/{enrolment_id}.thumb.jpg"
        out.setdefault(person, []).append(
            Enrolment(
                enrolment_id,
                person,
                list(meta.get("face_ids", [])),
                datetime.fromisoformat(when) if when else None,
                meta.get("source", ""),
                photo if photo in keys else None,
                thumb if thumb in keys else None,
            )
        )
    return out


def list_people(services) -> list[Person]:
    """Everyone in the configured collection, by name, with face count, enrolment date and a
    thumbnail key (None for faces enrolled outside the app, which have no stored photo)."""
    require_admin()
    try:
        by_person = services.faces.faces_by_external_id(services.settings.collection)
    except CollectionNotFound:
        return []
    enrolments = _enrolments(services)
    people = []
    for name in sorted(by_person, key=str.lower):
        face_ids = [f["FaceId"] for f in by_person[name]]
        live = set(face_ids)
        mine = [e for e in enrolments.get(name, []) if live & set(e.face_ids)]
        mine.sort(key=lambda e: e.enrolled_at or datetime.max.replace(tzinfo=UTC))
        dates = [e.enrolled_at for e in mine if e.enrolled_at]
        thumbs = [e.thumb_key for e in mine if e.thumb_key]
        people.append(
            Person(name or "(no name)", face_ids, mine, min(dates) if dates else None, thumbs[0] if thumbs else None)
        )
    return people


def get_person(services, name: str) -> Person:
    """Raises ResourceNotFound when nobody has that name."""
    require_admin()
    for p in list_people(services):
        if p.name == name:
            return p
    raise ResourceNotFound(f"no person named {name!r} in collection {services.settings.collection}")


def thumbnail(services, key: str) -> bytes:
    """Bytes of a stored thumbnail (or photo). Raises ResourceNotFound."""
    require_admin()
    return services.objects.get_object(_bucket(services), key)


def delete_face(services, person: str, face_id: str) -> bool:
    """Delete one enrolled face of ``person`` (vector and its stored photo).

    Returns True when the face existed. Raises InvalidParameter for a malformed id.
    """
    require_admin()
    resp = services.faces.delete_faces(CollectionId=services.settings.collection, FaceIds=[face_id])
    for enrolment in _enrolments(services).get(person, []):
        if face_id in enrolment.face_ids:
            rest = [f for f in enrolment.face_ids if f != face_id]
            if rest:
                meta = _read_json(services, f"{PREFIX}{person}/{enrolment.enrolment_id}.json") or {}
                meta["face_ids"] = rest
                services.objects.put_object(
                    _bucket(services),
                    f"{PREFIX}{person}/{enrolment.enrolment_id}.json",
                    json.dumps(meta).encode(),
                    "application/json",
                )
            else:
                _delete_enrolment_objects(services, person, enrolment.enrolment_id)
    return face_id in resp.get("DeletedFaces", [])


def rename_person(services, old: str, new: str) -> Person:
    """Re-key ``old`` as ``new`` by re-indexing the stored enrolment photos (see module doc).

    New faces are indexed first and the old ones deleted only when all succeeded, so a failure
    leaves the person as they were. Raises ResourceNotFound, InvalidPersonName,
    ResourceAlreadyExists (the new name is taken) and InvalidParameter when some faces have no
    stored photo (enrolled outside the app) and so cannot be re-indexed.
    """
    require_admin()
    new = person_key(new)
    person = get_person(services, old)
    if new == person.name:
        return person
    if any(p.name == new for p in list_people(services)):
        raise ResourceAlreadyExists(f"a person named {new!r} already exists")
    covered = {f for e in person.enrolments if e.photo_key for f in e.face_ids}
    orphans = [f for f in person.face_ids if f not in covered]
    if orphans:
        raise InvalidParameter(
            f"{len(orphans)} face(s) of {old!r} have no stored photo (enrolled outside the app); "
            "delete them or re-enrol before renaming"
        )
    created: list[str] = []  # face ids indexed under the new name
    try:
        for e in person.enrolments:
            photo = services.objects.get_object(_bucket(services), e.photo_key)
            meta = _read_json(services, f"{PREFIX}{old}/{e.enrolment_id}.json") or {}
            outcome = index_one(
                services,
                new,
                photo,
                meta.get("source_name", e.enrolment_id),
                meta.get("source", "upload"),
                meta.get("quality_filter", "AUTO"),
            )
            if not outcome.indexed:
                raise InvalidParameter(f"re-indexing a photo of {old!r} failed ({', '.join(outcome.reasons)})")
            created.append(outcome.face_id)
    except BaseException:
        if created:
            services.faces.delete_faces(CollectionId=services.settings.collection, FaceIds=created)
        for obj in services.objects.list_objects(_bucket(services), f"{PREFIX}{new}/"):
            services.objects.delete_object(_bucket(services), obj.key)
        raise
    services.faces.delete_faces(CollectionId=services.settings.collection, FaceIds=person.face_ids)
    for obj in services.objects.list_objects(_bucket(services), f"{PREFIX}{old}/"):
        services.objects.delete_object(_bucket(services), obj.key)
    return get_person(services, new)
