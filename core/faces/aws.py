"""Face collections on Amazon Rekognition: a thin pass-through.

The port already speaks Rekognition's request and response shapes, so each method forwards
its keyword arguments to the boto3 client (dropping ``None``), removes ``ResponseMetadata``,
and turns botocore errors into the ``core.errors`` classes of the same names.
``S3Object`` images go to Rekognition as they are: it reads the object itself, so the
bytes never travel through this process.
"""

from __future__ import annotations

from core.aws.clients import aws_errors
from core.faces.port import FaceCollections


class RekognitionFaceCollections(FaceCollections):
    """``client`` is a boto3 Rekognition client (see ``core.aws.clients.aws_client``)."""

    def __init__(self, client):
        self.client = client

    def _call(self, operation: str, **kwargs) -> dict:
        params = {k: v for k, v in kwargs.items() if v is not None}
        with aws_errors(collection_op="CollectionId" in params):
            response = getattr(self.client, operation)(**params)
        response.pop("ResponseMetadata", None)
        return response

    def create_collection(self, *, CollectionId):
        return self._call("create_collection", CollectionId=CollectionId)

    def delete_collection(self, *, CollectionId):
        return self._call("delete_collection", CollectionId=CollectionId)

    def list_collections(self, *, MaxResults=1000, NextToken=None):
        return self._call("list_collections", MaxResults=MaxResults, NextToken=NextToken)

    def describe_collection(self, *, CollectionId):
        return self._call("describe_collection", CollectionId=CollectionId)

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
        return self._call(
            "index_faces",
            CollectionId=CollectionId,
            Image=Image,
            ExternalImageId=ExternalImageId,
            DetectionAttributes=DetectionAttributes,
            MaxFaces=MaxFaces,
            QualityFilter=QualityFilter,
        )

    def list_faces(self, *, CollectionId, MaxResults=1000, NextToken=None):
        return self._call("list_faces", CollectionId=CollectionId, MaxResults=MaxResults, NextToken=NextToken)

    def delete_faces(self, *, CollectionId, FaceIds):
        return self._call("delete_faces", CollectionId=CollectionId, FaceIds=list(FaceIds))

    def search_faces_by_image(self, *, CollectionId, Image, MaxFaces=80, FaceMatchThreshold=80.0, QualityFilter="NONE"):
        return self._call(
            "search_faces_by_image",
            CollectionId=CollectionId,
            Image=Image,
            MaxFaces=MaxFaces,
            FaceMatchThreshold=FaceMatchThreshold,
            QualityFilter=QualityFilter,
        )

    def search_faces(self, *, CollectionId, FaceId, MaxFaces=80, FaceMatchThreshold=80.0):
        return self._call(
            "search_faces",
            CollectionId=CollectionId,
            FaceId=FaceId,
            MaxFaces=MaxFaces,
            FaceMatchThreshold=FaceMatchThreshold,
        )

    def detect_faces(self, *, Image, Attributes=None):
        return self._call("detect_faces", Image=Image, Attributes=Attributes)

    def compare_faces(self, *, SourceImage, TargetImage, SimilarityThreshold=80.0, QualityFilter="NONE"):
        return self._call(
            "compare_faces",
            SourceImage=SourceImage,
            TargetImage=TargetImage,
            SimilarityThreshold=SimilarityThreshold,
            QualityFilter=QualityFilter,
        )
