"""Forgetting a person in the aws world: DeleteFaces in every Rekognition collection (botocore
Stubber: the exact requests, validated against the service model) and every S3 object of the
person — enrolment photos, thumbnails, captures naming them (moto) — while others stay."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from botocore.stub import Stubber

from core.access import sessions
from core.usecases import retention
from tests.contract.conftest import BUCKETS, REGION, _aws_env

AMY = ["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"]
AMY_LOBBY = ["33333333-3333-3333-3333-333333333333"]
HOWARD = "44444444-4444-4444-4444-444444444444"


def _face(face_id: str, name: str) -> dict:
    return {
        "FaceId": face_id,
        "ExternalImageId": name,
        "ImageId": "55555555-5555-5555-5555-555555555555",
        "BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1},
        "Confidence": 99.9,
    }


def _capture(capture_id: str, person: str | None, corrected_to: str | None = None) -> dict:
    return {
        "version": 1,
        "capture_id": capture_id,
        "picture_name": f"{capture_id}.jpg",
        "when": "2026-11-25T10:00:00+00:00",
        "device_id": "id001",
        "threshold": 80,
        "collection": "facegate",
        "faces": [
            {
                "box": {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1},
                "person": person,
                "similarity": 99.0 if person else None,
                "face_id": None,
                "searched": True,
                "largest": True,
            }
        ],
        "door_opened": bool(person),
        "person": person,
        "corrections": [{"action": "this_is", "person": corrected_to}] if corrected_to else [],
    }


@pytest.fixture
def aws(settings, monkeypatch):
    from moto import mock_aws

    from core.bootstrap.aws import build_aws_services

    _aws_env(monkeypatch)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        services = build_aws_services(dataclasses.replace(settings, backend="aws"), session=session)
        with Stubber(services.faces.client) as stub:
            yield services, stub
            stub.assert_no_pending_responses()
        services.close()


def test_forget_person_in_aws_deletes_from_every_collection_and_bucket(aws, settings):
    services, stub = aws
    put = services.objects.put_object
    for name in ("e1.jpg", "e1.thumb.jpg", "e1.json"):
        put("facegate-faces", f"people/amy/{name}", b"x")
    put("facegate-faces", "people/howard/e2.jpg", b"x")
    for cid, person, corrected in (
        ("door_20261125100000", "amy", None),
        ("cam_20261125100100", None, "amy"),
        ("door_20261125100200", "howard", None),
    ):
        put("facegate-photos", f"{cid}.jpg", b"\xff\xd8")
        put("facegate-photos", f"thumbs/{cid}.jpg", b"\xff\xd8")
        put("facegate-photos", f"history/{cid}.json", json.dumps(_capture(cid, person, corrected)).encode())

    # The IoT rules' log objects (S3 is the aws event store): one record each, plus a batch
    # that mixes people (as a rule error copy could) to be rewritten, not deleted.
    amy_auth = {
        "DeviceID": "id001",
        "Datetime": "2026-11-25 10:00:00",
        "PictureName": "door_20261125100000.jpg",
        "AuthenticationResult": True,
        "Person": "amy",
    }
    howard_door = {"DeviceID": "id001", "Datetime": "2026-11-25T10:02:00Z", "Person": "howard"}
    put("facegate-logs", "auth/1796000000000-u1-auth-log-data.json", json.dumps(amy_auth).encode())
    put(
        "facegate-logs",
        "door/1796000000001-u2-door-open-log-data.json",
        json.dumps({**howard_door, "Person": "amy"}).encode(),
    )
    put("facegate-logs", "door/1796000000002-u3-door-open-log-data.json", json.dumps(howard_door).encode())
    put(
        "facegate-logs",
        "rule-errors/auth/1796000000003-u4.json",
        (json.dumps(amy_auth) + "\n" + json.dumps({**amy_auth, "Person": "howard"}) + "\n").encode(),
    )
    put("facegate-logs", "analysis/dt=2026-11-25/batch-1", b'{"Gender": "Female"}\n')

    stub.add_response("list_collections", {"CollectionIds": ["facegate", "lobby"]}, {"MaxResults": 1000})
    stub.add_response(
        "list_faces",
        {"Faces": [_face(AMY[0], "amy"), _face(AMY[1], "amy"), _face(HOWARD, "howard")]},
        {"CollectionId": "facegate", "MaxResults": 4096},
    )
    stub.add_response("delete_faces", {"DeletedFaces": AMY}, {"CollectionId": "facegate", "FaceIds": AMY})
    stub.add_response(
        "list_faces", {"Faces": [_face(AMY_LOBBY[0], "amy")]}, {"CollectionId": "lobby", "MaxResults": 4096}
    )
    stub.add_response("delete_faces", {"DeletedFaces": AMY_LOBBY}, {"CollectionId": "lobby", "FaceIds": AMY_LOBBY})

    with sessions.operator(settings, "tests"):
        counts = retention.forget_person(services, "amy")

    erasure = counts.pop("erasure")  # the opaque id logged instead of the name
    assert len(erasure) == 12 and counts == {
        "faces": 3,
        "objects": 3,
        "captures": 2,
        "collections": 2,
        "log_records": 3,
    }
    logs = {
        o.key: services.objects.get_object("facegate-logs", o.key)
        for o in services.objects.list_objects("facegate-logs")
    }
    assert set(logs) == {
        "door/1796000000002-u3-door-open-log-data.json",
        "rule-errors/auth/1796000000003-u4.json",
        "analysis/dt=2026-11-25/batch-1",
    }
    assert b"amy" not in b"".join(logs.values())
    assert json.loads(logs["rule-errors/auth/1796000000003-u4.json"])["Person"] == "howard"
    assert list(services.events.query("door")["Person"]) == ["howard"]  # what the analytics read
    left = {o.key for b in ("facegate-faces", "facegate-photos") for o in services.objects.list_objects(b)}
    assert left == {
        "people/howard/e2.jpg",
        "door_20261125100200.jpg",
        "thumbs/door_20261125100200.jpg",
        "history/door_20261125100200.json",
    }
