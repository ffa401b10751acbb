"""People: the collection seen as persons (enrol, list, rename, delete), the same in both worlds.

A person has an **id** — the ``ExternalImageId`` in the face collection, what identification
returns and what the course's auth and door logs carry as ``Person`` — and a **display name**,
what people read (any script: 「山田 太郎」). A name that fits Rekognition's alphabet becomes the
id itself (``Taro Yamada`` -> ``Taro_Yamada``, the course's example, so the course's scripts
see the name they typed); any other name gets an opaque id (``p-3f9a2c41d0``). We chose an
opaque id over romanising: a romaniser needs a dictionary (and guesses readings of names),
and the id is only what the logs and the Web API carry. The display name is kept beside the
photos, so renaming is only writing it (no re-indexing) and forgetting a person removes it too:

    people/<id>/profile.json                   {"display_name": ...}
    people/<id>/<enrolment id>.jpg             the photo that was indexed
    people/<id>/<enrolment id>.thumb.jpg       a small face thumbnail for the UI
    people/<id>/<enrolment id>.json            {"face_ids", "enrolled_at", "source", "sha256", ...}
    people/<id>/.undo/<enrolment id>.*         a deleted face's photo, kept UNDO_MINUTES for undo

Every write (``enrol_person``, ``rename_person``, ``delete_face``, ``undo_delete_face``;
deleting a whole person is ``core.usecases.retention.delete_person``, which also forgets them in
the logs) and every read of people's photos is one function here that calls
``core.access.sessions.require_admin`` first: a viewer gets ``AdminRequired`` however the
function is reached. ``display_names`` is the exception: the camera page names the person it
just identified, to whoever is at the camera.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.access.sessions import require_admin
from core.bootstrap.services import Services
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
from core.images.codec import decode_image, encode_jpeg, prepare_photo
from core.images.crop import face_crop

PREFIX = "people/"
PROFILE = "profile.json"
UNDO = ".undo"
UNDO_MINUTES = 30  # how long a deleted face can be brought back
# Rekognition's ExternalImageId alphabet. Spaces become underscores (``Taro Yamada`` ->
# ``Taro_Yamada``, the course's own example).
_NAME = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
MAX_DISPLAY_NAME = 64
THUMB_SIDE = 160


class InvalidPersonName(InvalidParameter):
    """A person id that cannot be an ExternalImageId (letters, digits, _ . - : only), or a
    display name that is empty, too long or has control characters."""


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
    name: str  # the id: the ExternalImageId identification returns and the logs carry
    face_ids: list[str]
    enrolments: list[Enrolment]
    enrolled_at: datetime | None  # the earliest enrolment we know of
    thumb_key: str | None
    display_name: str = ""  # what people read; the id when none was given

    def __post_init__(self) -> None:
        self.display_name = self.display_name or self.name

    @property
    def face_count(self) -> int:
        return len(self.face_ids)


def person_key(name: str) -> str:
    """The ExternalImageId for a typed id. Raises InvalidPersonName."""
    key = re.sub(r"\s+", "_", str(name or "").strip())
    if not _NAME.match(key) or set(key) <= {"."}:
        raise InvalidPersonName(
            f"{name!r} cannot be a person id: use letters, digits, _ . - : (for example Taro_Yamada)"
        )
    return key


def clean_display_name(name: str) -> str:
    """``name`` as it will be shown: NFC, surrounding and repeated spaces removed. Raises
    InvalidPersonName when it is empty, longer than MAX_DISPLAY_NAME or has control characters."""
    text = " ".join(unicodedata.normalize("NFC", str(name or "")).split())
    if not text:
        raise InvalidPersonName("a person's name cannot be empty")
    if len(text) > MAX_DISPLAY_NAME:
        raise InvalidPersonName(f"a person's name may have at most {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidPersonName("a person's name cannot contain control characters")
    return text


def new_person_id(display_name: str) -> str:
    """The id for a new person called ``display_name``: the name itself when it fits
    Rekognition's alphabet, else an opaque ``p-<10 hex>``."""
    try:
        return person_key(display_name)
    except InvalidPersonName:
        return f"p-{uuid.uuid4().hex[:10]}"


def _same_name(a: str, b: str) -> bool:
    return clean_display_name(a).casefold() == clean_display_name(b).casefold()


def anyone_enrolled(services: Services) -> bool:
    """Whether the configured collection holds any face. Anyone may ask (the camera page tells
    a first-time user why nobody is recognised); it reveals a yes or no, not who."""
    try:
        count = services.faces.describe_collection(CollectionId=services.settings.collection).get("FaceCount", 0)
    except CollectionNotFound:
        return False
    return count > 0


def ensure_collection(services: Services) -> None:
    """Create the configured collection when it does not exist yet."""
    cid = services.settings.collection
    try:
        services.faces.describe_collection(CollectionId=cid)
    except CollectionNotFound:
        try:
            services.faces.create_collection(CollectionId=cid)
        except ResourceAlreadyExists:
            pass  # created by someone else meanwhile


def _bucket(services: Services) -> str:
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


def _read_json(services: Services, key: str) -> dict | None:
    try:
        return json.loads(services.objects.get_object(_bucket(services), key))
    except (ResourceNotFound, ValueError):
        return None


def _profile_key(person: str) -> str:
    return f"{PREFIX}{person}/{PROFILE}"


def _display_name(services: Services, person: str) -> str:
    profile = _read_json(services, _profile_key(person)) or {}
    name = profile.get("display_name")
    return name if isinstance(name, str) and name else person


def set_display_name(services: Services, person: str, display_name: str) -> None:
    """Write ``person``'s display name (as given: callers pass a ``clean_display_name``)."""
    require_admin()
    body = json.dumps({"display_name": display_name}, ensure_ascii=False).encode()
    services.objects.put_object(_bucket(services), _profile_key(person), body, "application/json")


def display_names(services: Services, ids) -> dict[str, str]:
    """``{id: display name}`` for the given person ids (the id itself when there is no other
    name). No admin check: the camera page names the person it just identified."""
    return {pid: _display_name(services, pid) for pid in {i for i in ids if i}}


def find_person(services: Services, name: str) -> Person | None:
    """The enrolled person whose display name (case-insensitive) or id is ``name``, or None."""
    require_admin()
    try:
        wanted = clean_display_name(name)
    except InvalidPersonName:
        return None
    everyone = list_people(services)
    for p in everyone:
        if _same_name(p.display_name, wanted):
            return p
    for p in everyone:
        if p.name == wanted or p.name == re.sub(r"\s+", "_", wanted):
            return p
    return None


def _write_enrolment(
    services: Services, person: str, enrolment_id: str, photo: bytes, thumb: bytes, meta: dict
) -> None:
    base = f"{PREFIX}{person}/{enrolment_id}"
    services.objects.put_object(_bucket(services), base + ".jpg", photo, "image/jpeg")
    services.objects.put_object(_bucket(services), base + ".thumb.jpg", thumb, "image/jpeg")
    services.objects.put_object(
        _bucket(services), base + ".json", json.dumps(meta, ensure_ascii=False).encode(), "application/json"
    )


def _delete_enrolment_objects(services: Services, person: str, enrolment_id: str) -> None:
    base = f"{PREFIX}{person}/{enrolment_id}"
    for suffix in (".jpg", ".thumb.jpg", ".json"):
        services.objects.delete_object(_bucket(services), base + suffix)


def index_one(
    services: Services,
    person: str,
    image: bytes,
    source_name: str,
    source: str = "upload",
    quality_filter: str = "AUTO",
    face_box: dict | None = None,
) -> ImageOutcome:
    """Index the largest face of one image as ``person`` (or, with ``face_box``, the face in that
    box: a crop around it is what gets indexed and kept) and keep the photo.

    Returns an ImageOutcome (never raises for a bad image: the error is in the outcome so a
    batch of uploads reports every image). Raises only for collection/service failures.
    """
    require_admin()
    digest = hashlib.sha256(image).hexdigest()
    try:
        photo, decoded = prepare_photo(image)  # a large gallery photo is shrunk first
        if face_box is not None:  # the chosen face of a group photo: only it is kept
            photo = face_crop(decoded.rgb, face_box, margin=0.5, min_side=0)
            decoded = decode_image(photo)
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
        "sha256": digest,  # of the bytes as given: the same photo again is found as a duplicate
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


def resolve_person(services: Services, name: str) -> tuple[str, str, bool]:
    """``(id, display name, exists)`` for a name typed on the people page: the enrolled person
    with that display name or id, else a new id for it. Raises InvalidPersonName."""
    require_admin()
    display = clean_display_name(name)
    found = find_person(services, display)
    if found is not None:
        return found.name, found.display_name, True
    return new_person_id(display), display, False


def enrol_person(
    services: Services,
    name: str,
    images: list[tuple[str, bytes]],
    source: str = "upload",
    face_boxes: list[dict | None] | None = None,
) -> list[ImageOutcome]:
    """Enrol ``images`` (``(file name, bytes)`` pairs) as the person called ``name`` (a display
    name or an id; a new person when nobody has it). ``face_boxes[i]``, when given, is the face
    to take from image ``i`` (a group photo); otherwise its largest face is taken.

    Returns one ImageOutcome per image, in order. Raises InvalidPersonName for a bad name and
    InvalidParameter when no image is given.
    """
    require_admin()
    person, display, exists = resolve_person(services, name)
    if not images:
        raise InvalidParameter("give at least one photo to enrol")
    ensure_collection(services)
    boxes = list(face_boxes or []) + [None] * len(images)
    outcomes = [
        index_one(services, person, data, file_name, source, face_box=boxes[i])
        for i, (file_name, data) in enumerate(images)
    ]
    # A profile only when the name says more than the id (「山田 太郎」, "Taro Yamada").
    if any(o.indexed for o in outcomes) and display != _display_name(services, person):
        set_display_name(services, person, display)
    return outcomes


def _enrolments(services: Services) -> dict[str, list[Enrolment]]:
    out: dict[str, list[Enrolment]] = {}
    keys = {o.key for o in services.objects.list_objects(_bucket(services), PREFIX)}
    for key in sorted(keys):
        if not key.endswith(".json"):
            continue
        parts = key[len(PREFIX) :].split("/")
        if len(parts) != 2 or parts[1] == PROFILE:
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


def list_people(services: Services) -> list[Person]:
    """Everyone in the configured collection, by display name, with face count, enrolment date
    and a thumbnail key (None for faces enrolled outside the app, which have no stored photo)."""
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
            Person(
                name or "(no name)",
                face_ids,
                mine,
                min(dates) if dates else None,
                thumbs[0] if thumbs else None,
                _display_name(services, name) if name else "",
            )
        )
    people.sort(key=lambda p: p.display_name.casefold())
    return people


def get_person(services: Services, name: str) -> Person:
    """Raises ResourceNotFound when nobody has that name."""
    require_admin()
    for p in list_people(services):
        if p.name == name:
            return p
    raise ResourceNotFound(f"no person named {name!r} in collection {services.settings.collection}")


def thumbnail(services: Services, key: str) -> bytes:
    """Bytes of a stored thumbnail (or photo). Raises ResourceNotFound."""
    require_admin()
    return services.objects.get_object(_bucket(services), key)


def delete_face(services: Services, person: str, face_id: str, keep_for_undo: bool = False) -> bool:
    """Delete one enrolled face of ``person`` (vector and its stored photo). With
    ``keep_for_undo`` its enrolment photo is moved aside for UNDO_MINUTES instead of deleted, so
    ``undo_delete_face`` can index it again (a new FaceId; in both worlds a vector cannot be put
    back, only re-made from the photo).

    Returns True when the face existed. Raises InvalidParameter for a malformed id.
    """
    require_admin()
    resp = services.faces.delete_faces(CollectionId=services.settings.collection, FaceIds=[face_id])
    bucket = _bucket(services)
    for enrolment in _enrolments(services).get(person, []):
        if face_id not in enrolment.face_ids:
            continue
        base = f"{PREFIX}{person}/{enrolment.enrolment_id}"
        rest = [f for f in enrolment.face_ids if f != face_id]
        meta = _read_json(services, base + ".json") or {}
        if rest:
            meta["face_ids"] = rest
            services.objects.put_object(bucket, base + ".json", json.dumps(meta).encode(), "application/json")
            continue
        if keep_for_undo and enrolment.photo_key:
            aside = f"{PREFIX}{person}/{UNDO}/{enrolment.enrolment_id}"
            services.objects.put_object(
                bucket, aside + ".jpg", services.objects.get_object(bucket, enrolment.photo_key), "image/jpeg"
            )
            meta["deleted_face_id"], meta["deleted_at"] = face_id, datetime.now(UTC).isoformat()
            services.objects.put_object(
                bucket, aside + ".json", json.dumps(meta, ensure_ascii=False).encode(), "application/json"
            )
        _delete_enrolment_objects(services, person, enrolment.enrolment_id)
    return face_id in resp.get("DeletedFaces", [])


def undo_delete_face(services: Services, person: str, face_id: str) -> ImageOutcome:
    """Bring back a face deleted with ``keep_for_undo`` within UNDO_MINUTES: its photo is indexed
    again under ``person``. Raises ResourceNotFound when the photo is no longer kept."""
    require_admin()
    bucket = _bucket(services)
    cutoff = datetime.now(UTC) - timedelta(minutes=UNDO_MINUTES)
    for obj in services.objects.list_objects(bucket, f"{PREFIX}{person}/{UNDO}/"):
        if not obj.key.endswith(".json"):
            continue
        meta = _read_json(services, obj.key) or {}
        if meta.get("deleted_face_id") != face_id:
            continue
        aside = obj.key[: -len(".json")]
        deleted_at = datetime.fromisoformat(meta.get("deleted_at") or "1970-01-01T00:00:00+00:00")
        if deleted_at < cutoff:
            break
        photo = services.objects.get_object(bucket, aside + ".jpg")
        outcome = index_one(
            services,
            person,
            photo,
            meta.get("source_name", "undo"),
            meta.get("source", "upload"),
            meta.get("quality_filter", "AUTO"),
        )
        if outcome.indexed:
            for suffix in (".jpg", ".json"):
                services.objects.delete_object(bucket, aside + suffix)
        return outcome
    raise ResourceNotFound(f"face {face_id} of {person!r} can no longer be brought back")


def purge_undo(services: Services, now: datetime | None = None) -> int:
    """Delete deleted faces' photos kept for undo longer than UNDO_MINUTES. Returns how many."""
    require_admin()
    cutoff = (now or datetime.now(UTC)) - timedelta(minutes=UNDO_MINUTES)
    bucket, n = _bucket(services), 0
    for obj in services.objects.list_objects(bucket, PREFIX):
        if f"/{UNDO}/" in obj.key and obj.last_modified < cutoff:
            services.objects.delete_object(bucket, obj.key)
            n += obj.key.endswith(".json")
    return n


def rename_person(services: Services, person: str, new_name: str) -> Person:
    """Give ``person`` (an id) the display name ``new_name``; the id, the faces and the logs stay
    as they are. Raises ResourceNotFound, InvalidPersonName and ResourceAlreadyExists (someone
    else has that name)."""
    require_admin()
    display = clean_display_name(new_name)
    current = get_person(services, person)
    other = find_person(services, display)
    if other is not None and other.name != current.name:
        raise ResourceAlreadyExists(f"a person named {display!r} already exists")
    set_display_name(services, current.name, display)
    return get_person(services, current.name)


# --- reviewing photos before enrolling them -----------------------------------------------------
@dataclass
class PhotoReview:
    """What an admin should know about one photo before it is enrolled.

    ``faces`` are the boxes found (largest first); ``chosen`` the one to enrol (None: a group
    photo where the admin has to pick). The rest are reasons to think again: the same photo is
    already in this batch or enrolled (``duplicate_of``), the face is someone else already
    (``other_person``: id, display name, similarity), or it does not look like the person's
    enrolled faces (``like_person``) or like the first photo of this batch (``like_first``)."""

    source_name: str
    faces: list[dict] = field(default_factory=list)
    chosen: int | None = None
    error: FaceGateError | None = None
    duplicate_of: str | None = None  # an earlier file name of this batch, or ENROLLED
    other_person: tuple[str, str, float] | None = None
    like_person: float | None = None
    like_first: float | None = None
    threshold: float = 80.0

    @property
    def warnings(self) -> list[str]:
        """Codes of what needs a decision: CHOOSE_FACE, DUPLICATE, OTHER_PERSON, NOT_LIKE_PERSON,
        NOT_LIKE_FIRST (empty for a photo to enrol as it is, or one that cannot be enrolled)."""
        if self.error is not None or not self.faces:
            return []
        out = []
        if self.chosen is None:
            out.append("CHOOSE_FACE")
        if self.duplicate_of:
            out.append("DUPLICATE")
        if self.other_person:
            out.append("OTHER_PERSON")
        if self.like_person is not None and self.like_person < self.threshold:
            out.append("NOT_LIKE_PERSON")
        if self.like_first is not None and self.like_first < self.threshold:
            out.append("NOT_LIKE_FIRST")
        return out

    @property
    def usable(self) -> bool:
        return self.error is None and bool(self.faces)


ENROLLED = "__enrolled__"


def _boxes(services: Services, photo: bytes) -> list[dict]:
    details = services.faces.detect_faces(Image={"Bytes": photo}, Attributes=["DEFAULT"]).get("FaceDetails", [])
    boxes = [d["BoundingBox"] for d in details]
    return sorted(boxes, key=lambda b: -b["Width"] * b["Height"])


def _similarity(services: Services, source: bytes, target: bytes) -> float:
    try:
        resp = services.faces.compare_faces(
            SourceImage={"Bytes": source}, TargetImage={"Bytes": target}, SimilarityThreshold=0
        )
    except NoFaceInImage:
        return 0.0
    return max((float(m["Similarity"]) for m in resp.get("FaceMatches", [])), default=0.0)


def review_photos(
    services: Services, name: str, images: list[tuple[str, bytes]], choices: dict[int, int] | None = None
) -> list[PhotoReview]:
    """Look at ``images`` (``(file name, bytes)``) as enrolment photos of the person called
    ``name`` before anything is stored: which faces each has, and what would be wrong with
    enrolling it (see PhotoReview). ``choices[i]`` is the face picked in image ``i``.

    Costs per photo one DetectFaces, one SearchFacesByImage and (after the first) one
    CompareFaces. Raises InvalidPersonName and service errors."""
    require_admin()
    person, _display, exists = resolve_person(services, name)
    threshold = float(services.settings.match_threshold)
    enrolled_hashes = set()
    if exists:
        for e in _enrolments(services).get(person, []):
            meta = _read_json(services, f"{PREFIX}{person}/{e.enrolment_id}.json") or {}
            if meta.get("sha256"):
                enrolled_hashes.add(meta["sha256"])
    try:
        shown = {p.name: p.display_name for p in list_people(services)}
    except CollectionNotFound:
        shown = {}
    seen: dict[str, str] = {}
    first_face: bytes | None = None
    out = []
    for i, (file_name, data) in enumerate(images):
        review = PhotoReview(file_name, threshold=threshold)
        out.append(review)
        digest = hashlib.sha256(data).hexdigest()
        review.duplicate_of = seen.get(digest) or (ENROLLED if digest in enrolled_hashes else None)
        seen.setdefault(digest, file_name)
        try:
            photo, decoded = prepare_photo(data)
            review.faces = _boxes(services, photo)
        except NoFaceInImage:
            continue
        except (InvalidImageFormat, ImageTooLarge) as exc:
            review.error = exc
            continue
        if not review.faces:
            continue
        pick = (choices or {}).get(i)
        review.chosen = pick if pick is not None and 0 <= pick < len(review.faces) else None
        if len(review.faces) == 1:
            review.chosen = 0
        if review.chosen is None:
            continue
        face = face_crop(decoded.rgb, review.faces[review.chosen], margin=0.5, min_side=0)
        try:
            matches = services.faces.search_faces_by_image(
                CollectionId=services.settings.collection, Image={"Bytes": face}, MaxFaces=20, FaceMatchThreshold=0
            ).get("FaceMatches", [])
        except (NoFaceInImage, CollectionNotFound):
            matches = []
        best: dict[str, float] = {}
        for m in matches:
            pid = m["Face"].get("ExternalImageId") or ""
            best[pid] = max(best.get(pid, 0.0), float(m["Similarity"]))
        others = [(sim, pid) for pid, sim in best.items() if pid != person and sim >= threshold]
        if others:
            sim, pid = max(others)
            review.other_person = (pid, shown.get(pid, pid), sim)
        if exists:
            review.like_person = best.get(person, 0.0)
        if first_face is None:
            first_face = face
        else:
            review.like_first = _similarity(services, first_face, face)
    return out
