"""Face collections port, shaped exactly like Amazon Rekognition.

Method names are boto3's (snake_case), keyword arguments and return values are
Rekognition's request and response shapes (PascalCase), so the AWS adapter is a thin
pass-through and the local engine answers what a Rekognition client would. Images are
given as ``Image={"Bytes": b"..."}`` (or ``{"S3Object": {"Bucket", "Name"}}``, resolved by
the adapter through the object store). Errors are ``core.errors`` domain errors.
"""

from __future__ import annotations

import abc


class FaceCollections(abc.ABC):
    @abc.abstractmethod
    def create_collection(self, *, CollectionId: str) -> dict: ...

    @abc.abstractmethod
    def delete_collection(self, *, CollectionId: str) -> dict: ...

    @abc.abstractmethod
    def list_collections(self, *, MaxResults: int = 1000, NextToken: str | None = None) -> dict: ...

    @abc.abstractmethod
    def describe_collection(self, *, CollectionId: str) -> dict: ...

    @abc.abstractmethod
    def index_faces(
        self,
        *,
        CollectionId: str,
        Image: dict,
        ExternalImageId: str | None = None,
        DetectionAttributes: list[str] | None = None,
        MaxFaces: int | None = None,
        QualityFilter: str = "AUTO",
    ) -> dict: ...

    @abc.abstractmethod
    def list_faces(self, *, CollectionId: str, MaxResults: int = 1000, NextToken: str | None = None) -> dict: ...

    @abc.abstractmethod
    def delete_faces(self, *, CollectionId: str, FaceIds: list[str]) -> dict: ...

    @abc.abstractmethod
    def search_faces_by_image(
        self,
        *,
        CollectionId: str,
        Image: dict,
        MaxFaces: int = 80,
        FaceMatchThreshold: float = 80.0,
        QualityFilter: str = "NONE",
    ) -> dict: ...

    @abc.abstractmethod
    def search_faces(
        self, *, CollectionId: str, FaceId: str, MaxFaces: int = 80, FaceMatchThreshold: float = 80.0
    ) -> dict: ...

    @abc.abstractmethod
    def detect_faces(self, *, Image: dict, Attributes: list[str] | None = None) -> dict: ...

    @abc.abstractmethod
    def compare_faces(
        self, *, SourceImage: dict, TargetImage: dict, SimilarityThreshold: float = 80.0, QualityFilter: str = "NONE"
    ) -> dict: ...

    # --- beyond Rekognition: what FaceGate's people page needs, the same in both worlds ---
    def scrub_deleted(self) -> None:
        """Make earlier deletions final on the storage medium (core.usecases.retention calls it after
        forgetting a person). Rekognition deletes for good itself, so by default nothing."""
        return None

    def engine_status(self) -> str | None:
        """One line about the local face engine (which runtime runs the descriptor and, on a
        fallback, why) once it has loaded; None where there is no such engine (Rekognition)."""
        return None

    def warm_up(self, analysis: bool = False) -> None:
        """Load what the first call would otherwise load (the local engine's models), so an
        app started in the background answers its first photo at full speed; ``analysis``: also
        what the first ``detect_faces`` with all attributes loads (Live loads it before a stream
        starts). Rekognition has nothing to load, so by default nothing."""
        return None

    def faces_by_external_id(self, collection_id: str) -> dict[str, list[dict]]:
        """Group every face in the collection by ExternalImageId (a person)."""
        people: dict[str, list[dict]] = {}
        token: str | None = None
        while True:
            page = self.list_faces(CollectionId=collection_id, MaxResults=4096, NextToken=token)
            for face in page.get("Faces", []):
                people.setdefault(face.get("ExternalImageId", ""), []).append(face)
            token = page.get("NextToken")
            if not token:
                return people
