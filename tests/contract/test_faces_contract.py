"""Face collections: the same behaviour, shapes and domain errors in both worlds.

Each ``aws_answers`` is what Rekognition documents for that situation (its examples and
error names); the local world ignores it and computes the answer with its own engine.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.errors import CollectionNotFound, InvalidImageFormat, NoFaceInImage, ResourceAlreadyExists
from core.web import routes
from tests.faces.conftest import encode

ARN = "arn:aws:rekognition:ap-northeast-1:123456789012:collection/people"
FACE_ID = "38271d79-7bc2-5efb-b752-398a8d575b85"
BOX = {"Width": 0.4, "Height": 0.5, "Left": 0.3, "Top": 0.2}


def _face(external_id: str, face_id: str = FACE_ID) -> dict:
    return {
        "FaceId": face_id,
        "BoundingBox": BOX,
        "ImageId": "d5631190-d039-54e4-b4cd-8f7a4c4a3a5c",
        "ExternalImageId": external_id,
        "Confidence": 99.99,
    }


def _enrol(world, person_bytes: bytes, person: str = "amy") -> str:
    world.aws_answers("create_collection", {"StatusCode": 200, "CollectionArn": ARN, "FaceModelVersion": "7.0"})
    world.call("create_collection", CollectionId="people")
    # The course's IndexFaces: MaxFaces 1, QualityFilter AUTO, DetectionAttributes ALL.
    world.aws_answers(
        "index_faces",
        {
            "FaceRecords": [{"Face": _face(person), "FaceDetail": {"BoundingBox": BOX, "Confidence": 99.99}}],
            "FaceModelVersion": "7.0",
            "UnindexedFaces": [],
        },
        params={
            "CollectionId": "people",
            "Image": {"Bytes": person_bytes},
            "ExternalImageId": person,
            "MaxFaces": 1,
            "QualityFilter": "AUTO",
            "DetectionAttributes": ["ALL"],
        },
    )
    out = world.call(
        "index_faces",
        CollectionId="people",
        Image={"Bytes": person_bytes},
        ExternalImageId=person,
        MaxFaces=1,
        QualityFilter="AUTO",
        DetectionAttributes=["ALL"],
    )
    assert len(out["FaceRecords"]) == 1
    assert out["FaceRecords"][0]["Face"]["ExternalImageId"] == person
    return out["FaceRecords"][0]["Face"]["FaceId"]


@pytest.fixture
def blank_jpeg() -> bytes:
    x = np.linspace(0, 255, 320, dtype=np.uint8)
    return encode(np.stack([np.tile(x, (240, 1))] * 3, axis=-1))


def test_a_collection_is_created_listed_described_and_deleted(world):
    world.aws_answers("create_collection", {"StatusCode": 200, "CollectionArn": ARN, "FaceModelVersion": "7.0"})
    assert world.call("create_collection", CollectionId="people")["CollectionArn"].endswith("collection/people")
    world.aws_answers(
        "create_collection", error="ResourceAlreadyExistsException", message="The collection id: people already exists"
    )
    with pytest.raises(ResourceAlreadyExists):
        world.call("create_collection", CollectionId="people")
    world.aws_answers("list_collections", {"CollectionIds": ["people"], "FaceModelVersions": ["7.0"]})
    assert "people" in world.call("list_collections")["CollectionIds"]
    world.aws_answers(
        "describe_collection",
        {"FaceCount": 0, "FaceModelVersion": "7.0", "CollectionARN": ARN, "CreationTimestamp": "2026-01-01T00:00:00Z"},
    )
    assert world.call("describe_collection", CollectionId="people")["FaceCount"] == 0
    world.aws_answers("delete_collection", {"StatusCode": 200})
    assert world.call("delete_collection", CollectionId="people")["StatusCode"] == 200
    world.aws_answers(
        "describe_collection", error="ResourceNotFoundException", message="The collection id: people does not exist"
    )
    with pytest.raises(CollectionNotFound):
        world.call("describe_collection", CollectionId="people")


def test_an_enrolled_person_is_identified_and_a_stranger_is_not(world, labelled):
    amy = [p.read_bytes() for p in labelled["amy"][:2]]
    stranger = labelled["penny"][0].read_bytes()
    _enrol(world, amy[0])
    world.aws_answers(
        "search_faces_by_image",
        {
            "SearchedFaceBoundingBox": BOX,
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": [{"Similarity": 99.4, "Face": _face("amy")}],
            "FaceModelVersion": "7.0",
        },
    )
    found = world.call(
        "search_faces_by_image", CollectionId="people", Image={"Bytes": amy[1]}, MaxFaces=10, FaceMatchThreshold=80.0
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "amy"
    assert found["FaceMatches"][0]["Similarity"] >= 80.0
    world.aws_answers(
        "search_faces_by_image",
        {"SearchedFaceBoundingBox": BOX, "SearchedFaceConfidence": 99.9, "FaceMatches": [], "FaceModelVersion": "7.0"},
    )
    other = world.call(
        "search_faces_by_image", CollectionId="people", Image={"Bytes": stranger}, MaxFaces=10, FaceMatchThreshold=80.0
    )
    assert not [m for m in other["FaceMatches"] if m["Face"].get("ExternalImageId") == "amy"]


def test_a_photo_in_the_object_store_is_searched_where_it_lies(world, labelled):
    """The course's device flow: upload with the course's key layout, then search the object.
    In aws the adapter hands Rekognition the S3Object itself, never the bytes."""
    amy = [p.read_bytes() for p in labelled["amy"][:2]]
    _enrol(world, amy[0])
    world.objects.put_object("facegate-photos", "image01_20190808181200.png", amy[1], "image/png")
    image = {"S3Object": {"Bucket": "facegate-photos", "Name": "image01_20190808181200.png"}}
    world.aws_answers(
        "search_faces_by_image",
        {"FaceMatches": [{"Similarity": 99.4, "Face": _face("amy")}]},
        params={
            "CollectionId": "people",
            "Image": image,
            "MaxFaces": 10,
            "FaceMatchThreshold": 80.0,
            "QualityFilter": "NONE",
        },
    )
    found = world.call(
        "search_faces_by_image", CollectionId="people", Image=image, MaxFaces=10, FaceMatchThreshold=80.0
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "amy"


def test_no_face_bad_image_and_missing_collection_are_the_same_errors(world, labelled, blank_jpeg):
    _enrol(world, labelled["amy"][0].read_bytes())
    world.aws_answers(
        "search_faces_by_image",
        error="InvalidParameterException",
        message="There are no faces in the image. Should be at least 1.",
    )
    with pytest.raises(NoFaceInImage):
        world.call("search_faces_by_image", CollectionId="people", Image={"Bytes": blank_jpeg})
    world.aws_answers("detect_faces", error="InvalidImageFormatException", message="Request has invalid image format")
    with pytest.raises(InvalidImageFormat):
        world.call("detect_faces", Image={"Bytes": b"this is not an image"}, Attributes=["ALL"])
    world.aws_answers(
        "search_faces_by_image", error="ResourceNotFoundException", message="The collection id: nobody does not exist"
    )
    with pytest.raises(CollectionNotFound):
        world.call("search_faces_by_image", CollectionId="nobody", Image={"Bytes": blank_jpeg})


def test_deleting_a_persons_faces_removes_them(world, labelled):
    face_id = _enrol(world, labelled["amy"][0].read_bytes())
    world.aws_answers("list_faces", {"Faces": [_face("amy", face_id)], "FaceModelVersion": "7.0"})
    assert world.faces.faces_by_external_id("people").keys() == {"amy"}
    world.aws_answers(
        "delete_faces", {"DeletedFaces": [face_id]}, params={"CollectionId": "people", "FaceIds": [face_id]}
    )
    assert world.call("delete_faces", CollectionId="people", FaceIds=[face_id])["DeletedFaces"] == [face_id]
    world.aws_answers("list_faces", {"Faces": [], "FaceModelVersion": "7.0"})
    assert world.call("list_faces", CollectionId="people")["Faces"] == []


def test_detect_faces_gives_a_face_detail_per_face(world, labelled):
    world.aws_answers(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": BOX, "Confidence": 99.9, "Smile": {"Value": False, "Confidence": 92.0}}]},
    )
    details = world.call("detect_faces", Image={"Bytes": labelled["amy"][0].read_bytes()}, Attributes=["ALL"])[
        "FaceDetails"
    ]
    assert len(details) == 1
    box = details[0]["BoundingBox"]
    assert 0 <= box["Left"] <= 1 and 0 < box["Width"] <= 1 and "Smile" in details[0]


def test_the_courses_search_request_gets_the_courses_answer(world, labelled):
    """Service level: the Web API's /search on each world's services, phone variant."""
    import base64

    amy = [p.read_bytes() for p in labelled["amy"][:2]]
    _enrol(world, amy[0])
    world.services.settings = dataclasses.replace(world.services.settings, collection="people")
    world.aws_answers("search_faces_by_image", {"FaceMatches": [{"Similarity": 99.4, "Face": _face("amy")}]})
    body = {"image_base64str": "data:image/png;base64," + base64.b64encode(amy[1]).decode(), "threshold": 80}
    answer = routes.handle_route("search", {"httpMethod": "POST", "body": json.dumps(body)}, world.services)
    assert answer["statusCode"] == 200
    payload = json.loads(answer["body"])
    assert payload["msg"] == "[SUCCEEDED]Rekognition done"
    assert payload["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"] == "amy"
    world.aws_answers(
        "search_faces_by_image",
        error="InvalidParameterException",
        message="There are no faces in the image. Should be at least 1.",
    )
    blank = base64.b64encode(encode(np.full((240, 320, 3), 128, np.uint8))).decode()
    answer = routes.handle_route(
        "search", {"httpMethod": "POST", "body": json.dumps({"image_base64str": blank})}, world.services
    )
    assert answer["statusCode"] == 421
