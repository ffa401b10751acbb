"""The local world's Rekognition: ``FaceCollections`` on the offline engine and ``FaceStore``.

Similarity is calibrated on L2 distance between dlib descriptors (see docs/faces.md, "Face
engine"): ``similarity = 100 / (1 + exp((d - 0.6664) / 0.0623))``, so similarity 80 is
distance 0.58 and unrelated people (distance ~0.85) score about 5.
"""

from __future__ import annotations

import base64
import math
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidParameter, NoFaceInImage
from core.faces import adience
from core.faces import attributes as attr
from core.faces import engine as eng
from core.faces.port import FaceCollections
from core.faces.store import FaceStore, StoredFace
from core.images.codec import decode_image, image_bytes, image_limit

SIMILARITY_MIDPOINT = 0.6664  # L2 distance at similarity 50
SIMILARITY_SCALE = 0.0623
EXTERNAL_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
COLLECTION_ID = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
FACE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
QUALITY_FILTERS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")

# Minimums per QualityFilter: face side (px), Sharpness, Brightness, Confidence, |Yaw|, |Pitch|.
_QUALITY = {
    "LOW": (20, 3.0, 5.0, 50.0, 75.0, 60.0),
    "AUTO": (40, 8.0, 10.0, 70.0, 60.0, 45.0),
    "MEDIUM": (40, 10.0, 12.0, 75.0, 55.0, 45.0),
    "HIGH": (60, 25.0, 20.0, 90.0, 40.0, 30.0),
}


def similarity_from_distance(d: float) -> float:
    return round(100.0 / (1.0 + math.exp((d - SIMILARITY_MIDPOINT) / SIMILARITY_SCALE)), 5)


def distance_for_similarity(similarity: float) -> float:
    s = min(max(similarity, 1e-6), 100 - 1e-6)
    return SIMILARITY_MIDPOINT + SIMILARITY_SCALE * math.log(100.0 / s - 1.0)


class LocalFaceCollections(FaceCollections):
    def __init__(
        self,
        data_dir: Path,
        objects=None,
        engine: eng.FaceEngine | None = None,
        region: str = "local",
        estimator: attr.AttributeEstimator | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.store = FaceStore(self.data_dir / "faces" / "faces.db")
        self.objects = objects
        self._engine = engine
        self._estimator = estimator
        self.region = region

    @property
    def engine(self) -> eng.FaceEngine:
        if self._engine is None:
            self._engine = eng.get_engine(self.data_dir)
        return self._engine

    def engine_status(self) -> str | None:
        engine = self._engine or eng.loaded_engine()
        return None if engine is None else f"descriptor {engine.descriptor_status}; detector {engine.detector_status}"

    def warm_up(self, analysis: bool = False) -> None:
        engine = self.engine  # the property loads the models
        if analysis:
            engine.load_landmarks()
            self.estimator  # noqa: B018 - the property loads the attribute nets

    @property
    def estimator(self) -> attr.AttributeEstimator:
        if self._estimator is None:
            self._estimator = attr.get_estimator(adience.default_cache_dir(self.data_dir / "models"))
        return self._estimator

    # --- helpers ---------------------------------------------------------------------
    def _work(self, image: dict) -> eng.WorkImage:
        return self.engine.work_image(decode_image(image_bytes(image, self.objects), max_bytes=image_limit(image)))

    def _arn(self, collection_id: str) -> str:
        return f"aws:rekognition:{self.region}:000000000000:collection/{collection_id}"

    @staticmethod
    def _check_collection(collection_id) -> str:
        if not isinstance(collection_id, str) or not COLLECTION_ID.match(collection_id):
            raise InvalidParameter("CollectionId must match [a-zA-Z0-9_.\\-]+ (1-255 characters)")
        return collection_id

    @staticmethod
    def _check_range(name, value, low, high, kind=float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
            raise InvalidParameter(f"{name} must be a number from {low} to {high}")
        return kind(value)

    @staticmethod
    def _check_quality_filter(value) -> str:
        if value not in QUALITY_FILTERS:
            raise InvalidParameter(f"QualityFilter must be one of {', '.join(QUALITY_FILTERS)}")
        return value

    @staticmethod
    def _box(work: eng.WorkImage, face: eng.FoundFace) -> dict:
        return {
            "Width": face.width / work.width,
            "Height": face.height / work.height,
            "Left": face.left / work.width,
            "Top": face.top / work.height,
        }

    def _detail(self, work, face, attributes: set[str], compared: bool = False) -> dict:
        """A FaceDetail (or ComparedFace) in Rekognition's shape: where the face is (the
        engine) and what it looks like (``core.faces.attributes``)."""
        detail = {"BoundingBox": self._box(work, face), "Confidence": face.confidence}
        detail.update(self.estimator.describe(work, face, attributes, compared=compared))
        return detail

    @staticmethod
    def _attributes(value) -> set[str]:
        if value is None:
            return {"DEFAULT"}
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InvalidParameter("Attributes must be a list such as ['ALL'] or ['DEFAULT']")
        return set(value) or {"DEFAULT"}

    def _quality_reasons(self, work, face, level: str) -> list[str]:
        if level == "NONE":
            return []
        min_side, min_sharp, min_bright, min_conf, max_yaw, max_pitch = _QUALITY[level]
        brightness, sharpness = attr.brightness_sharpness(work, face)
        pose = attr.head_pose(face.points68, work.width, work.height)
        reasons = []
        if abs(pose["Yaw"]) > max_yaw or abs(pose["Pitch"]) > max_pitch:
            reasons.append("EXTREME_POSE")
        if brightness < min_bright:
            reasons.append("LOW_BRIGHTNESS")
        if sharpness < min_sharp:
            reasons.append("LOW_SHARPNESS")
        if face.confidence < min_conf:
            reasons.append("LOW_CONFIDENCE")
        if min(face.width, face.height) < min_side:
            reasons.append("SMALL_BOUNDING_BOX")
        return reasons

    def _face_record(self, f: StoredFace) -> dict:
        face = {
            "FaceId": f.face_id,
            "BoundingBox": f.bbox,
            "ImageId": f.image_id,
            "Confidence": f.confidence,
            "IndexFacesModelVersion": eng.MODEL_VERSION,
        }
        if f.external_image_id is not None:
            face["ExternalImageId"] = f.external_image_id
        return face

    def _matches(self, collection_id, probe, max_faces, threshold, exclude: str | None = None) -> list[dict]:
        index = self.store.search_index(collection_id)
        # Faces below the threshold are dropped below, so the search need not rank them
        # (the margin covers the rounding of Similarity to 5 decimals).
        radius = distance_for_similarity(threshold) + 1e-3 if threshold > 0 else None
        hits = index.nearest(probe, max_faces + (1 if exclude else 0), radius)
        hits = [(fid, d) for fid, d in hits if fid != exclude][:max_faces]
        wanted = [(fid, similarity_from_distance(d)) for fid, d in hits]
        wanted = [(fid, s) for fid, s in wanted if s >= threshold]
        records = self.store.faces_by_id(collection_id, [fid for fid, _ in wanted])
        # A face deleted between the index read and this lookup is simply skipped.
        return [{"Similarity": s, "Face": self._face_record(records[fid])} for fid, s in wanted if fid in records]

    # --- collections -----------------------------------------------------------------
    def create_collection(self, *, CollectionId):
        cid = self._check_collection(CollectionId)
        self.store.create_collection(cid)
        return {"StatusCode": 200, "CollectionArn": self._arn(cid), "FaceModelVersion": eng.MODEL_VERSION}

    def delete_collection(self, *, CollectionId):
        self.store.delete_collection(self._check_collection(CollectionId))
        return {"StatusCode": 200}

    def list_collections(self, *, MaxResults=1000, NextToken=None):
        limit = self._check_range("MaxResults", MaxResults, 0, 4096, int)
        ids = self.store.list_collections()
        start = _decode_token(NextToken) if NextToken else 0
        page = ids[start : start + limit]
        out: dict[str, object] = {"CollectionIds": page, "FaceModelVersions": [eng.MODEL_VERSION] * len(page)}
        if start + limit < len(ids):
            out["NextToken"] = _encode_token(start + limit)
        return out

    def describe_collection(self, *, CollectionId):
        cid = self._check_collection(CollectionId)
        created, count = self.store.describe(cid)

        return {
            "FaceCount": count,
            "FaceModelVersion": eng.MODEL_VERSION,
            "CollectionARN": self._arn(cid),
            "CreationTimestamp": datetime.fromtimestamp(created, UTC),
            "UserCount": 0,
        }

    # --- faces ---------------------------------------------------------------------
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
        cid = self._check_collection(CollectionId)
        if ExternalImageId is not None and (
            not isinstance(ExternalImageId, str) or not EXTERNAL_ID.match(ExternalImageId)
        ):
            raise InvalidParameter("ExternalImageId must match [a-zA-Z0-9_.\\-:]+ (1-255 characters)")
        max_faces = 100 if MaxFaces is None else self._check_range("MaxFaces", MaxFaces, 1, 100, int)
        level = self._check_quality_filter(QualityFilter)
        attributes = self._attributes(DetectionAttributes)
        self.store.describe(cid)  # fail fast on a missing collection, before the model work
        work = self._work(Image)
        # Found as SearchFacesByImage finds them (MTCNN): the same boxes, so the largest face
        # and the alignment agree between enrolment and search.
        faces = self.engine.detect(work, thorough=True, detector="identify")
        image_id = str(uuid.uuid4())
        now = time.time()
        records: list[dict] = []
        unindexed: list[dict] = []
        to_store: list = []
        kept: list = []
        for face in faces:  # largest first, as Rekognition keeps the largest MaxFaces
            reasons = self._quality_reasons(work, face, level)
            if not reasons and len(to_store) >= max_faces:
                reasons = ["EXCEEDS_MAX_FACES"]
            detail = self._detail(work, face, attributes)
            if reasons:
                unindexed.append({"Reasons": reasons, "FaceDetail": detail})
                continue
            stored = StoredFace(
                str(uuid.uuid4()), ExternalImageId, image_id, detail["BoundingBox"], detail["Confidence"], now
            )
            to_store.append(stored)
            kept.append(face)
            records.append({"Face": self._face_record(stored), "FaceDetail": detail})
        if to_store:
            vectors = self.engine.descriptors(work, kept)  # every face of the photo in one run
            self.store.add_faces(cid, list(zip(to_store, vectors)))
        return {"FaceRecords": records, "FaceModelVersion": eng.MODEL_VERSION, "UnindexedFaces": unindexed}

    def list_faces(self, *, CollectionId, MaxResults=1000, NextToken=None):
        cid = self._check_collection(CollectionId)
        limit = self._check_range("MaxResults", MaxResults, 0, 4096, int)
        after = _decode_token(NextToken) if NextToken else 0
        faces, next_seq = self.store.list_faces(cid, after, limit)
        out = {"Faces": [self._face_record(f) for f in faces], "FaceModelVersion": eng.MODEL_VERSION}
        if next_seq is not None:
            out["NextToken"] = _encode_token(next_seq)
        return out

    def delete_faces(self, *, CollectionId, FaceIds):
        cid = self._check_collection(CollectionId)
        if (
            not isinstance(FaceIds, (list, tuple))
            or not 1 <= len(FaceIds) <= 4096
            or not all(isinstance(f, str) and FACE_ID.match(f) for f in FaceIds)
        ):
            raise InvalidParameter("FaceIds must be a list of 1 to 4096 face ids (UUIDs)")
        deleted = self.store.delete_faces(cid, list(FaceIds))
        missing = [f for f in FaceIds if f not in deleted]
        out: dict[str, object] = {"DeletedFaces": deleted}
        if missing:
            out["UnsuccessfulFaceDeletions"] = [{"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in missing]
        return out

    def scrub_deleted(self) -> None:
        """Overwrite what deleted faces left on disk (see FaceStore.scrub)."""
        self.store.scrub()

    # --- search --------------------------------------------------------------------
    def search_faces_by_image(self, *, CollectionId, Image, MaxFaces=80, FaceMatchThreshold=80.0, QualityFilter="NONE"):
        cid = self._check_collection(CollectionId)
        max_faces = self._check_range("MaxFaces", MaxFaces, 1, 4096, int)
        threshold = self._check_range("FaceMatchThreshold", FaceMatchThreshold, 0, 100)
        level = self._check_quality_filter(QualityFilter)
        self.store.describe(cid)
        work = self._work(Image)
        faces = self.engine.detect(work, thorough=False, detector="identify", largest_only=True)
        if not faces:
            raise NoFaceInImage("There are no faces in the image. Should be at least 1.")
        face = faces[0]  # the largest face, as Rekognition searches
        if self._quality_reasons(work, face, level):
            raise NoFaceInImage("The largest face in the image does not pass the quality filter.")
        probe = self.engine.descriptor(work, face)
        return {
            "SearchedFaceBoundingBox": self._box(work, face),
            "SearchedFaceConfidence": face.confidence,
            "FaceMatches": self._matches(cid, probe, max_faces, threshold),
            "FaceModelVersion": eng.MODEL_VERSION,
        }

    def search_faces(self, *, CollectionId, FaceId, MaxFaces=80, FaceMatchThreshold=80.0):
        cid = self._check_collection(CollectionId)
        max_faces = self._check_range("MaxFaces", MaxFaces, 1, 4096, int)
        threshold = self._check_range("FaceMatchThreshold", FaceMatchThreshold, 0, 100)
        if not isinstance(FaceId, str) or not FACE_ID.match(FaceId):
            raise InvalidParameter("FaceId must be a face id (UUID)")
        found = self.store.get_face(cid, FaceId)
        if found is None:
            raise InvalidParameter(f"face {FaceId} is not in collection {cid}")
        return {
            "SearchedFaceId": FaceId,
            "FaceMatches": self._matches(cid, found[1], max_faces, threshold, FaceId),
            "FaceModelVersion": eng.MODEL_VERSION,
        }

    def detect_faces(self, *, Image, Attributes=None):
        attributes = self._attributes(Attributes)
        work = self._work(Image)
        faces = self.engine.detect(work, thorough=True)
        return {"FaceDetails": [self._detail(work, f, attributes) for f in faces[:100]]}

    def compare_faces(self, *, SourceImage, TargetImage, SimilarityThreshold=80.0, QualityFilter="NONE"):
        threshold = self._check_range("SimilarityThreshold", SimilarityThreshold, 0, 100)
        level = self._check_quality_filter(QualityFilter)
        source = self._work(SourceImage)
        target = self._work(TargetImage)
        src_faces = self.engine.detect(source, thorough=False, detector="identify", largest_only=True)
        if not src_faces or self._quality_reasons(source, src_faces[0], level):
            raise NoFaceInImage("There are no faces in the source image. Should be at least 1.")
        probe = self.engine.descriptor(source, src_faces[0])
        matches: list[dict[str, Any]] = []
        unmatched: list[dict] = []
        candidates: list = []
        for face in self.engine.detect(target, thorough=True, detector="identify")[:100]:
            compared = self._detail(target, face, set(), compared=True)
            if self._quality_reasons(target, face, level):
                unmatched.append(compared)
                continue
            candidates.append((face, compared))
        vectors = self.engine.descriptors(target, [face for face, _ in candidates])
        for (_face, compared), vector in zip(candidates, vectors):
            d = float(np.linalg.norm(vector - probe))
            s = similarity_from_distance(d)
            (matches.append({"Similarity": s, "Face": compared}) if s >= threshold else unmatched.append(compared))
        matches.sort(key=lambda m: m["Similarity"], reverse=True)
        return {
            "SourceImageFace": {
                "BoundingBox": self._box(source, src_faces[0]),
                "Confidence": src_faces[0].confidence,
            },
            "FaceMatches": matches,
            "UnmatchedFaces": unmatched,
        }


def _encode_token(n: int) -> str:
    return base64.urlsafe_b64encode(f"fg:{n}".encode()).decode()


def _decode_token(token) -> int:
    try:
        text = base64.urlsafe_b64decode(str(token).encode()).decode()
        if not text.startswith("fg:"):
            raise ValueError
        return max(0, int(text[3:]))
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("NextToken is not valid") from None
