"""Rekognition over the endpoint with boto3: every operation the local engine has, on the
same face collections the app uses, answers validated against botocore's model, and
Rekognition's own exceptions for bad input."""

from __future__ import annotations

import io
import json

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from .conftest import validate_output

COLLECTION = "yamada-authentication-collection"


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _jpeg(color=(200, 200, 200), size=(320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def enrolled(endpoint, labelled):
    """The course's step 1: a bucket of enrolment photos, a collection, IndexFaces from S3."""
    s3 = endpoint.client("s3")
    rk = endpoint.client("rekognition")
    s3.create_bucket(
        Bucket="yamada-rekognition-collection-source",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"},
    )
    out = rk.create_collection(CollectionId=COLLECTION)
    validate_output("rekognition", "CreateCollection", out)
    assert out["StatusCode"] == 200 and out["CollectionArn"].endswith(f":collection/{COLLECTION}")
    faces = {}
    for person in ("amy", "howard", "leonard"):
        s3.put_object(
            Bucket="yamada-rekognition-collection-source", Key=f"{person}.png", Body=labelled[person][0].read_bytes()
        )
        indexed = rk.index_faces(
            CollectionId=COLLECTION,
            Image={"S3Object": {"Bucket": "yamada-rekognition-collection-source", "Name": f"{person}.png"}},
            ExternalImageId=person,
            MaxFaces=1,
            QualityFilter="AUTO",
            DetectionAttributes=["ALL"],
        )
        validate_output("rekognition", "IndexFaces", indexed)
        assert len(indexed["FaceRecords"]) == 1
        faces[person] = indexed["FaceRecords"][0]["Face"]["FaceId"]
    yield faces
    rk.delete_collection(CollectionId=COLLECTION)


def test_the_app_sees_the_collection_the_cli_made(endpoint, enrolled):
    people = endpoint.services.faces.faces_by_external_id(COLLECTION)
    assert sorted(people) == ["amy", "howard", "leonard"]


def test_list_describe_and_list_faces(endpoint, enrolled):
    rk = endpoint.client("rekognition")
    listed = rk.list_collections()
    validate_output("rekognition", "ListCollections", listed)
    assert COLLECTION in listed["CollectionIds"]
    described = rk.describe_collection(CollectionId=COLLECTION)
    validate_output("rekognition", "DescribeCollection", described)
    assert described["FaceCount"] == 3 and described["CreationTimestamp"].year >= 2024
    pages = list(rk.get_paginator("list_faces").paginate(CollectionId=COLLECTION, PaginationConfig={"PageSize": 2}))
    for page in pages:
        validate_output("rekognition", "ListFaces", page)
    assert sorted(f["ExternalImageId"] for p in pages for f in p["Faces"]) == ["amy", "howard", "leonard"]
    assert len(pages) == 2


def test_search_faces_by_image_bytes_and_s3_object(endpoint, enrolled, labelled):
    rk = endpoint.client("rekognition")
    found = rk.search_faces_by_image(
        CollectionId=COLLECTION, Image={"Bytes": labelled["amy"][1].read_bytes()}, MaxFaces=10, FaceMatchThreshold=80
    )
    validate_output("rekognition", "SearchFacesByImage", found)
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "amy"
    by_s3 = rk.search_faces_by_image(
        CollectionId=COLLECTION,
        Image={"S3Object": {"Bucket": "yamada-rekognition-collection-source", "Name": "howard.png"}},
    )
    assert by_s3["FaceMatches"][0]["Face"]["ExternalImageId"] == "howard"
    nobody = rk.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": labelled["penny"][0].read_bytes()})
    assert nobody["FaceMatches"] == []


def test_search_faces_detect_faces_and_compare_faces(endpoint, enrolled, labelled):
    rk = endpoint.client("rekognition")
    similar = rk.search_faces(CollectionId=COLLECTION, FaceId=enrolled["amy"], FaceMatchThreshold=0, MaxFaces=5)
    validate_output("rekognition", "SearchFaces", similar)
    assert similar["SearchedFaceId"] == enrolled["amy"]
    assert enrolled["amy"] not in [m["Face"]["FaceId"] for m in similar["FaceMatches"]]
    detected = rk.detect_faces(Image={"Bytes": labelled["leonard"][0].read_bytes()}, Attributes=["ALL"])
    validate_output("rekognition", "DetectFaces", detected)
    assert len(detected["FaceDetails"]) == 1
    compared = rk.compare_faces(
        SourceImage={"Bytes": labelled["leonard"][0].read_bytes()},
        TargetImage={"Bytes": labelled["leonard"][1].read_bytes()},
        SimilarityThreshold=50,
    )
    validate_output("rekognition", "CompareFaces", compared)
    assert compared["FaceMatches"] and compared["FaceMatches"][0]["Similarity"] >= 50


def test_delete_faces_and_collections(endpoint, labelled):
    rk = endpoint.client("rekognition")
    rk.create_collection(CollectionId="scratch")
    face = rk.index_faces(
        CollectionId="scratch", Image={"Bytes": labelled["penny"][0].read_bytes()}, ExternalImageId="penny"
    )
    face_id = face["FaceRecords"][0]["Face"]["FaceId"]
    out = rk.delete_faces(CollectionId="scratch", FaceIds=[face_id, "00000000-0000-0000-0000-000000000000"])
    validate_output("rekognition", "DeleteFaces", out)
    assert out["DeletedFaces"] == [face_id]
    assert out["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    validate_output("rekognition", "DeleteCollection", rk.delete_collection(CollectionId="scratch"))
    with pytest.raises(rk.exceptions.ResourceNotFoundException):
        rk.delete_collection(CollectionId="scratch")


def test_rekognitions_own_exceptions_and_status_codes(endpoint, enrolled):
    rk = endpoint.client("rekognition")
    src = "yamada-rekognition-collection-source"
    ex = rk.exceptions
    cases = [
        (lambda: rk.create_collection(CollectionId=COLLECTION), ex.ResourceAlreadyExistsException),
        (lambda: rk.describe_collection(CollectionId="nope"), ex.ResourceNotFoundException),
        (lambda: rk.search_faces_by_image(CollectionId="nope", Image={"Bytes": _jpeg()}), ex.ResourceNotFoundException),
        (
            lambda: rk.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": _jpeg()}),
            ex.InvalidParameterException,
        ),
        (lambda: rk.detect_faces(Image={"Bytes": b"not an image at all"}), ex.InvalidImageFormatException),
        (lambda: rk.detect_faces(Image={"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)}), ex.ImageTooLargeException),
        (lambda: rk.detect_faces(Image={"S3Object": {"Bucket": src, "Name": "none.jpg"}}), ex.InvalidS3ObjectException),
        (
            lambda: rk.detect_faces(Image={"S3Object": {"Bucket": "no-such-x", "Name": "a.jpg"}}),
            ex.InvalidS3ObjectException,
        ),
        (lambda: rk.list_faces(CollectionId=COLLECTION, NextToken="garbage!"), ex.InvalidParameterException),
    ]
    for call, exception in cases:
        with pytest.raises(exception) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_s3_images_may_be_15_mb_where_bytes_stop_at_5(endpoint, enrolled, labelled):
    """Rekognition reads S3 images up to 15 MB; the local world now does too (the course's
    device variant of /search passes an S3Object)."""
    s3 = endpoint.client("s3")
    rk = endpoint.client("rekognition")
    photo = Image.open(labelled["amy"][0]).convert("RGB").resize((2000, 2000))
    buf = io.BytesIO()
    photo.save(buf, format="PNG", compress_level=0)  # 12 MB: over the Bytes limit, under the S3 one
    big = buf.getvalue()
    assert 5 * 1024 * 1024 < len(big) <= 15 * 1024 * 1024
    s3.put_object(Bucket="yamada-rekognition-collection-source", Key="big.png", Body=big)
    out = rk.detect_faces(Image={"S3Object": {"Bucket": "yamada-rekognition-collection-source", "Name": "big.png"}})
    assert len(out["FaceDetails"]) == 1
    with pytest.raises(rk.exceptions.ImageTooLargeException):
        rk.detect_faces(Image={"Bytes": big})


def test_non_botocore_clients_get_the_same_validation(endpoint):
    """curl or the JavaScript SDK skip botocore's client-side checks: the server checks too."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def call(target: str, body: dict | str) -> requests.Response:
        data = body if isinstance(body, str) else json.dumps(body)
        req = AWSRequest(
            method="POST",
            url=endpoint.url + "/",
            data=data,
            headers={"X-Amz-Target": f"RekognitionService.{target}", "Content-Type": "application/x-amz-json-1.1"},
        )
        SigV4Auth(
            Credentials(endpoint.admin.access_key_id, endpoint.admin.secret_access_key), "rekognition", "ap-northeast-1"
        ).add_auth(req)
        return requests.post(endpoint.url + "/", data=data, headers=dict(req.headers), timeout=30)

    assert botocore.session.get_session()  # the model is botocore's
    r = call("DescribeCollection", {})
    assert (
        r.status_code == 400
        and r.json()["__type"] == "InvalidParameterException"
        and "CollectionId" in r.json()["Message"]
    )
    r = call("DescribeCollection", "{not json")
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"
    r = call("DetectFaces", {"Image": {"Bytes": "%%%not base64"}})
    assert r.status_code == 400 and r.json()["__type"] == "InvalidParameterException"
    r = call("DetectLabels", {"Image": {"Bytes": ""}})
    assert r.status_code == 400 and "does not offer DetectLabels" in r.json()["Message"]
    r = call("NoSuchThing", {})
    assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException"
    r = call("ListFaces", {"CollectionId": COLLECTION, "UserId": "u1"})
    assert r.status_code == 400 and "does not support UserId" in r.json()["Message"]
