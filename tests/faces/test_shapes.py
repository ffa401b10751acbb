"""Every local response validates against botocore's Rekognition service model.

botocore's Stubber checks a queued response against the operation's output shape, so
queuing our response is a real validation, not a mock of anything we test."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from tests.faces.conftest import img_bytes


@pytest.fixture(scope="module")
def rekognition():
    return boto3.client("rekognition", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x")


def check(client, operation: str, response: dict) -> None:
    with Stubber(client) as stub:
        stub.add_response(operation, response)  # raises ParamValidationError on a wrong shape


def test_every_operation_matches_the_service_model(faces, labelled, faces_dir, rekognition):
    c = rekognition
    check(c, "create_collection", faces.create_collection(CollectionId="c"))
    check(c, "list_collections", faces.list_collections())
    check(c, "describe_collection", faces.describe_collection(CollectionId="c"))
    indexed = faces.index_faces(
        CollectionId="c",
        Image=img_bytes(faces_dir / "groups" / "bbt1.jpg"),
        ExternalImageId="group",
        MaxFaces=2,
        DetectionAttributes=["ALL"],
    )
    assert indexed["FaceRecords"] and indexed["UnindexedFaces"]
    check(c, "index_faces", indexed)
    check(c, "list_faces", faces.list_faces(CollectionId="c", MaxResults=1))
    found = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(faces_dir / "groups" / "bbt1.jpg"))
    assert found["FaceMatches"]
    check(c, "search_faces_by_image", found)
    check(c, "search_faces", faces.search_faces(CollectionId="c", FaceId=indexed["FaceRecords"][0]["Face"]["FaceId"]))
    check(c, "detect_faces", faces.detect_faces(Image=img_bytes(faces_dir / "groups" / "bbt3.jpg"), Attributes=["ALL"]))
    check(
        c,
        "compare_faces",
        faces.compare_faces(
            SourceImage=img_bytes(labelled["amy"][0]),
            TargetImage=img_bytes(faces_dir / "groups" / "bbt3.jpg"),
            SimilarityThreshold=0,
        ),
    )
    check(
        c, "delete_faces", faces.delete_faces(CollectionId="c", FaceIds=[indexed["FaceRecords"][0]["Face"]["FaceId"]])
    )
    check(c, "delete_collection", faces.delete_collection(CollectionId="c"))


def test_a_wrong_shape_is_caught(rekognition):
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        check(rekognition, "detect_faces", {"FaceDetails": [{"BoundingBox": {"Width": "wide"}}]})
