"""The Lambda handlers in the aws world: photos from S3 (moto), Rekognition through botocore's
Stubber (moto has no SearchFacesByImage / DetectFaces; the Stubber checks our parameters and
its canned answers against Rekognition's service model). Nothing here reaches AWS."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from tests.api.conftest import data_uri, to_jpeg

REGION = "ap-northeast-1"
PHOTOS = "facegate-photos-test"
FACE_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def aws_world(monkeypatch, tmp_path, labelled):
    from moto import mock_aws

    from core.config import load_settings
    from core.faces.aws import RekognitionFaceCollections
    from lambda_src import _container

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "FACEGATE_BACKEND": "aws",
        "FACEGATE_REGION": REGION,
        "FACEGATE_PHOTOS_BUCKET": PHOTOS,
        "FACEGATE_COLLECTION": "handson-collection",
        "FACEGATE_DATA_DIR": str(tmp_path / "data"),
        "FACEGATE_SECRETS_FILE": str(tmp_path / "none.toml"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=PHOTOS, CreateBucketConfiguration={"LocationConstraint": REGION})
        from core.bootstrap.aws import build_aws_services

        services = build_aws_services(load_settings(), session=session)
        rekognition = session.client("rekognition")
        services.faces = RekognitionFaceCollections(rekognition)  # the adapter, on a stubbed client
        monkeypatch.setattr(_container, "_services", services)  # what the container built on cold start
        with Stubber(rekognition) as stub:
            yield services, stub, session, labelled


def proxy(route, body):
    return {
        "resource": f"/{route}",
        "path": f"/{route}",
        "httpMethod": "POST",
        "headers": {},
        "requestContext": {"requestId": "aws-req-1", "stage": "prod"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class Context:
    aws_request_id = "aws-req-1"


def test_search_passes_the_s3_object_to_rekognition_like_the_course(aws_world):
    """The device variant: Rekognition reads the photo from S3 itself (15 MB), as the
    course's Lambda asks it to; the bytes never pass through the Lambda."""
    from lambda_src import search

    services, stub, session, labelled = aws_world
    photo = to_jpeg(labelled["howard"][1])
    session.client("s3").put_object(Bucket=PHOTOS, Key="image01_20190808181200.jpg", Body=photo)
    stub.add_response(
        "search_faces_by_image",
        {
            "SearchedFaceBoundingBox": {"Width": 0.5, "Height": 0.6, "Left": 0.2, "Top": 0.1},
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": [
                {"Similarity": 98.7, "Face": {"FaceId": FACE_ID, "ExternalImageId": "Taro_Yamada", "Confidence": 99.9}}
            ],
            "FaceModelVersion": "7.0",
        },
        expected_params={
            "CollectionId": "handson-collection",
            "Image": {"S3Object": {"Bucket": PHOTOS, "Name": "image01_20190808181200.jpg"}},
            "MaxFaces": 10,
            "FaceMatchThreshold": 80.0,
            "QualityFilter": "NONE",
        },
    )
    response = search.handler(
        proxy("search", {"file_name": "image01_20190808181200.jpg", "bucket_name": PHOTOS}), Context()
    )
    stub.assert_no_pending_responses()
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["msg"] == "[SUCCEEDED]Rekognition done"
    assert body["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    assert response["headers"]["X-Request-Id"] == "aws-req-1"


def test_rekognition_no_face_is_421_and_missing_s3_object_is_400(aws_world):
    """The course's phone Lambda answers 421 in Japanese; its device Lambda prints
    Rekognition's error after [FAILED] with 400."""
    from lambda_src import search

    services, stub, session, labelled = aws_world
    stub.add_client_error(
        "search_faces_by_image",
        service_error_code="InvalidParameterException",
        service_message="There are no faces in the image. Should be at least 1.",
        http_status_code=400,
    )
    response = search.handler(proxy("search", {"image_base64str": data_uri(to_jpeg(labelled["amy"][0]))}), Context())
    assert response["statusCode"] == 421
    assert json.loads(response["body"]) == {"msg": "画像内に人物の顔を認識出来ませんでした", "error": "NoFaceInImage"}
    stub.add_client_error(
        "search_faces_by_image",
        service_error_code="InvalidS3ObjectException",
        service_message="Unable to get object metadata from S3. Check object key, region and/or access permissions.",
        http_status_code=400,
    )
    response = search.handler(
        proxy("search", {"file_name": "never_20200101000000.jpg", "bucket_name": PHOTOS}), Context()
    )
    body = json.loads(response["body"])
    assert response["statusCode"] == 400 and body["error"] == "InvalidS3ObjectException"
    assert body["msg"].startswith(
        "[FAILED]An error occurred (InvalidS3ObjectException) when calling the SearchFacesByImage operation: "
        "Unable to get object metadata from S3."
    )


def test_analyze_asks_for_all_attributes_and_no_face_is_200_with_an_empty_analysis(aws_world):
    from lambda_src import analyze

    services, stub, session, labelled = aws_world
    photo = to_jpeg(labelled["penny"][0])
    stub.add_response(
        "detect_faces",
        {
            "FaceDetails": [
                {
                    "BoundingBox": {"Width": 0.5, "Height": 0.6, "Left": 0.2, "Top": 0.1},
                    "Confidence": 99.9,
                    "AgeRange": {"Low": 22, "High": 30},
                    "Gender": {"Value": "Female", "Confidence": 99.0},
                    "Smile": {"Value": True, "Confidence": 95.0},
                    "Eyeglasses": {"Value": False, "Confidence": 97.0},
                    "Beard": {"Value": False, "Confidence": 96.0},
                    "Mustache": {"Value": False, "Confidence": 98.0},
                }
            ]
        },
        expected_params={"Image": {"Bytes": photo}, "Attributes": ["ALL"]},
    )
    stub.add_response(
        "detect_faces", {"FaceDetails": []}, expected_params={"Image": {"Bytes": photo}, "Attributes": ["ALL"]}
    )
    response = analyze.handler(proxy("analyze", {"image_base64str": data_uri(photo)}), Context())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["payloads"]["analysis"][0]["Eyeglasses"]["Value"] is False
    response = analyze.handler(proxy("analyze", {"image_base64str": data_uri(photo)}), Context())
    body = json.loads(response["body"])  # as the course's Lambda: DetectFaces' empty list, 200
    assert response["statusCode"] == 200 and body["msg"] == "[SUCCEEDED]Analysis done"
    assert body["payloads"]["analysis"] == []
    stub.assert_no_pending_responses()
