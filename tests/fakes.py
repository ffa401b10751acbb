"""Fakes at the ports, for use-case tests that check orchestration in milliseconds: no dlib,
no ``../shared`` photos, no SQLite, no broker. The real adapters keep their own tests and the
contract suite (``tests/contract``) runs every port test against both real worlds.

Faces are drawn, not photographed: ``photo([("amy", box), ...])`` paints each person as a
square of their own colour (``PALETTE``) on a grey background, and ``FakeFaceCollections``
"detects" a face wherever it finds one of those colours, with Rekognition's shapes (boxes as
ratios, FaceDetails, FaceMatches with Similarity). So a crop around a face — what
``capture.identify_faces`` searches for every face but the largest — still shows that face,
exactly as with the real engine. Images go through ``core.images.codec.decode_image``, so
bad bytes raise the same domain errors as in both real worlds.
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from core.config import Settings
from core.errors import (
    CollectionNotFound,
    InvalidParameter,
    NoFaceInImage,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from core.events.port import KINDS, EventPublisher, EventStore
from core.faces.port import FaceCollections
from core.images.codec import decode_image, image_bytes
from core.objects.port import ObjectInfo, ObjectStore, check_key

# One colour per person a test may draw (far apart, so JPEG never turns one into another).
PALETTE: dict[str, tuple[int, int, int]] = {
    "amy": (220, 30, 30),
    "howard": (30, 200, 30),
    "leonard": (30, 30, 220),
    "penny": (220, 200, 20),
    "raj": (200, 20, 200),
    "sheldon": (20, 200, 200),
}
BACKGROUND = (128, 128, 128)
_TOLERANCE = 48  # per channel, after JPEG
_MIN_PIXELS = 36  # a square smaller than 6x6 pixels is noise, not a face
MODEL_VERSION = "fake-1.0"


def photo(faces: Iterable[tuple[str, tuple[int, int, int]]], size: tuple[int, int] = (320, 240)) -> bytes:
    """A JPEG with one coloured square per ``(person, (left, top, side))`` in pixels."""
    img = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    for person, (left, top, side) in faces:
        draw.rectangle([left, top, left + side - 1, top + side - 1], fill=PALETTE[person])
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def face_of(person: str, side: int = 80, size: tuple[int, int] = (320, 240)) -> bytes:
    """A photo of ``person`` alone, their face centred."""
    w, h = size
    return photo([(person, ((w - side) // 2, (h - side) // 2, side))], size)


@dataclass
class _Found:
    person: str
    box: dict  # Rekognition BoundingBox (ratios)
    area: float


def _find_faces(data: bytes) -> list[_Found]:
    """Every palette colour present as a block, largest first."""
    rgb = decode_image(data).rgb.astype(np.int16)
    h, w = rgb.shape[:2]
    found = []
    for person, colour in PALETTE.items():
        mask = (np.abs(rgb - np.array(colour, dtype=np.int16)) <= _TOLERANCE).all(axis=2)
        if mask.sum() < _MIN_PIXELS:
            continue
        ys, xs = np.nonzero(mask)
        left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        box = {"Width": (right - left) / w, "Height": (bottom - top) / h, "Left": left / w, "Top": top / h}
        found.append(_Found(person, box, box["Width"] * box["Height"]))
    return sorted(found, key=lambda f: -f.area)


def _detail(found: _Found, attributes: list[str] | None) -> dict:
    detail = {
        "BoundingBox": found.box,
        "Confidence": 99.9,
        "Pose": {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0},
        "Quality": {"Brightness": 80.0, "Sharpness": 80.0},
    }
    if attributes and "ALL" in attributes:
        detail["AgeRange"] = {"Low": 20, "High": 30}
        detail["Gender"] = {"Value": "Female", "Confidence": 90.0}
        detail["Smile"] = {"Value": False, "Confidence": 90.0}
    return detail


@dataclass
class _Face:
    face_id: str
    person: str
    external_id: str | None
    box: dict
    image_id: str

    def record(self) -> dict:
        out = {"FaceId": self.face_id, "BoundingBox": self.box, "ImageId": self.image_id, "Confidence": 99.9}
        if self.external_id is not None:
            out["ExternalImageId"] = self.external_id
        return out


@dataclass
class _Collection:
    created: datetime
    faces: dict[str, _Face] = field(default_factory=dict)


class FakeFaceCollections(FaceCollections):
    """Rekognition's collections over drawn faces. A face matches the faces enrolled from the
    same colour (Similarity 99.5) and nothing else."""

    def __init__(self, objects: ObjectStore | None = None):
        self.objects = objects
        self.collections: dict[str, _Collection] = {}
        self.calls: list[str] = []  # operation names, for tests that check what was asked

    def _faces(self, image: dict) -> list[_Found]:
        return _find_faces(image_bytes(image, self.objects))

    def _collection(self, cid: str) -> _Collection:
        try:
            return self.collections[cid]
        except KeyError:
            raise CollectionNotFound(f"The collection id: {cid} does not exist") from None

    def create_collection(self, *, CollectionId):
        self.calls.append("CreateCollection")
        if CollectionId in self.collections:
            raise ResourceAlreadyExists(f"The collection id: {CollectionId} already exists")
        self.collections[CollectionId] = _Collection(datetime.now(UTC))
        return {"StatusCode": 200, "CollectionArn": f"aws:rekognition:fake:collection/{CollectionId}"}

    def delete_collection(self, *, CollectionId):
        self.calls.append("DeleteCollection")
        self._collection(CollectionId)
        del self.collections[CollectionId]
        return {"StatusCode": 200}

    def list_collections(self, *, MaxResults=1000, NextToken=None):
        ids = sorted(self.collections)
        return {"CollectionIds": ids, "FaceModelVersions": [MODEL_VERSION] * len(ids)}

    def describe_collection(self, *, CollectionId):
        c = self._collection(CollectionId)
        return {
            "FaceCount": len(c.faces),
            "FaceModelVersion": MODEL_VERSION,
            "CollectionARN": f"aws:rekognition:fake:collection/{CollectionId}",
            "CreationTimestamp": c.created,
        }

    def index_faces(
        self,
        *,
        CollectionId,
        Image,
        ExternalImageId=None,
        DetectionAttributes=None,
        MaxFaces=None,
        QualityFilter="AUTO",
    ):
        self.calls.append("IndexFaces")
        c = self._collection(CollectionId)
        found = self._faces(Image)
        image_id = str(uuid.uuid4())
        records, unindexed = [], []
        for i, f in enumerate(found):
            if MaxFaces is not None and i >= MaxFaces:
                unindexed.append({"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": _detail(f, DetectionAttributes)})
                continue
            face = _Face(str(uuid.uuid4()), f.person, ExternalImageId, f.box, image_id)
            c.faces[face.face_id] = face
            records.append({"Face": face.record(), "FaceDetail": _detail(f, DetectionAttributes)})
        return {"FaceRecords": records, "UnindexedFaces": unindexed, "FaceModelVersion": MODEL_VERSION}

    def list_faces(self, *, CollectionId, MaxResults=1000, NextToken=None):
        faces = list(self._collection(CollectionId).faces.values())
        start = int(NextToken or 0)
        page = faces[start : start + MaxResults]
        out: dict = {"Faces": [f.record() for f in page], "FaceModelVersion": MODEL_VERSION}
        if start + MaxResults < len(faces):
            out["NextToken"] = str(start + MaxResults)
        return out

    def delete_faces(self, *, CollectionId, FaceIds):
        self.calls.append("DeleteFaces")
        c = self._collection(CollectionId)
        deleted = [f for f in FaceIds if c.faces.pop(f, None) is not None]
        return {"DeletedFaces": deleted}

    def _matches(self, c: _Collection, person: str, threshold: float, limit: int, skip: str | None = None) -> list:
        out = [
            {"Similarity": 99.5, "Face": face.record()}
            for face in c.faces.values()
            if face.person == person and face.face_id != skip and threshold <= 99.5
        ]
        return out[:limit]

    def search_faces_by_image(self, *, CollectionId, Image, MaxFaces=80, FaceMatchThreshold=80.0, QualityFilter="NONE"):
        self.calls.append("SearchFacesByImage")
        c = self._collection(CollectionId)
        found = self._faces(Image)
        if not found:
            raise NoFaceInImage("There are no faces in the image. Should be at least 1.")
        largest = found[0]
        return {
            "SearchedFaceBoundingBox": largest.box,
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": self._matches(c, largest.person, FaceMatchThreshold, MaxFaces),
            "FaceModelVersion": MODEL_VERSION,
        }

    def search_faces(self, *, CollectionId, FaceId, MaxFaces=80, FaceMatchThreshold=80.0):
        c = self._collection(CollectionId)
        if FaceId not in c.faces:
            raise InvalidParameter(f"face {FaceId} is not in the collection")
        matches = self._matches(c, c.faces[FaceId].person, FaceMatchThreshold, MaxFaces, skip=FaceId)
        return {"SearchedFaceId": FaceId, "FaceMatches": matches, "FaceModelVersion": MODEL_VERSION}

    def detect_faces(self, *, Image, Attributes=None):
        self.calls.append("DetectFaces")
        return {"FaceDetails": [_detail(f, Attributes) for f in self._faces(Image)]}

    def compare_faces(self, *, SourceImage, TargetImage, SimilarityThreshold=80.0, QualityFilter="NONE"):
        source = self._faces(SourceImage)
        if not source:
            raise NoFaceInImage("There are no faces in the source image. Should be at least 1.")
        matches, unmatched = [], []
        for f in self._faces(TargetImage):
            same = f.person == source[0].person
            (matches if same else unmatched).append(
                {"Similarity": 99.5, "Face": _detail(f, None)} if same else _detail(f, None)
            )
        return {"SourceImageFace": {"BoundingBox": source[0].box}, "FaceMatches": matches, "UnmatchedFaces": unmatched}


class FakeObjectStore(ObjectStore):
    """S3's semantics in a dict: keys checked as the real stores check them, objects listed
    sorted by key with their size and a last-modified time from ``clock``."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.clock = clock
        self.buckets: dict[str, dict[str, tuple[bytes, datetime]]] = {}

    def put_object(self, bucket, key, data, content_type="application/octet-stream"):
        self.buckets.setdefault(bucket, {})[check_key(key)] = (bytes(data), self.clock())

    def get_object(self, bucket, key):
        try:
            return self.buckets[bucket][check_key(key)][0]
        except KeyError:
            raise ResourceNotFound(f"no object {key!r} in bucket {bucket!r}") from None

    def delete_object(self, bucket, key):
        self.buckets.get(bucket, {}).pop(check_key(key), None)

    def list_objects(self, bucket, prefix=""):
        objects = self.buckets.get(bucket, {})
        return [
            ObjectInfo(key, len(data), when) for key, (data, when) in sorted(objects.items()) if key.startswith(prefix)
        ]

    def set_modified(self, bucket: str, key: str, when: datetime) -> None:
        """Age an object (retention tests)."""
        data, _ = self.buckets[bucket][key]
        self.buckets[bucket][key] = (data, when)


class FakeEventStore(EventStore):
    """Records per kind in lists, idempotent by id, queried as the real stores answer."""

    def __init__(self):
        self.records: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}

    def append(self, kind, records, ids):
        if kind not in KINDS:
            raise InvalidParameter(f"unknown log kind {kind!r}")
        if len(records) != len(ids):
            raise InvalidParameter("one id per record")
        new = 0
        for record, message_id in zip(records, ids, strict=True):
            if message_id not in self.records[kind]:
                self.records[kind][message_id] = dict(record)
                new += 1
        return new

    def query(self, kind, *, device=None, since=None, until=None, limit=None):
        frame = pd.DataFrame(list(self.records[kind].values()))
        if frame.empty:
            return frame
        frame["Datetime"] = pd.to_datetime(frame["Datetime"], utc=True, format="mixed")
        if device:
            frame = frame[frame["DeviceID"] == device]
        if since is not None:
            frame = frame[frame["Datetime"] >= pd.Timestamp(since)]
        if until is not None:
            frame = frame[frame["Datetime"] < pd.Timestamp(until)]
        frame = frame.sort_values("Datetime", kind="stable")
        return (frame.tail(limit) if limit else frame).reset_index(drop=True)

    def forget_person(self, name):
        removed = 0
        for kind in ("auth", "door"):
            keep = {i: r for i, r in self.records[kind].items() if r.get("Person") != name}
            removed += len(self.records[kind]) - len(keep)
            self.records[kind] = keep
        return removed


class RecordingPublisher(EventPublisher):
    """Publishes into an event store (as the direct publisher does) and remembers what it was
    given; ``fail_with`` makes every publish raise that error (a broker that is down)."""

    def __init__(self, store: EventStore, fail_with: Exception | None = None):
        self.store = store
        self.fail_with = fail_with
        self.published: list[tuple[str, dict]] = []
        self._ids = itertools.count(1)

    def publish(self, kind, payload):
        if self.fail_with is not None:
            raise self.fail_with
        message_id = f"m{next(self._ids)}"
        self.store.append(kind, [payload], [message_id])
        self.published.append((kind, dict(payload)))
        return message_id


def fake_services(settings: Settings, clock: Callable[[], datetime] | None = None):
    """A complete ``Services`` on the fakes. The in-process Web API client and the routes are
    the real code (it is their job to shape requests and answers), over the fake faces."""
    from core.bootstrap.services import Services
    from core.quicksight.local import LocalQuickSight
    from core.telemetry.port import NoTelemetry
    from core.web.client.local import LocalFaceApi

    objects = FakeObjectStore(clock) if clock else FakeObjectStore()
    faces = FakeFaceCollections(objects)
    events = FakeEventStore()
    return Services(
        settings=settings,
        objects=objects,
        faces=faces,
        publisher=RecordingPublisher(events),
        events=events,
        api=LocalFaceApi(settings, faces, objects),
        telemetry=NoTelemetry(),
        quicksight=LocalQuickSight(""),
    )
