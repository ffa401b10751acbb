"""The aws composition root: what ``FACEGATE_BACKEND=aws`` builds, and the Lambda handler
running on it (moto S3 + Stubber Rekognition), as API Gateway would call it."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from core.errors import ResourceNotFound
from tests.aws.conftest import REGION, make_bucket


@pytest.fixture
def aws_settings(moto_session, tmp_path, monkeypatch):
    from core.config import load_settings

    monkeypatch.setenv("FACEGATE_BACKEND", "aws")
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("FACEGATE_REGION", REGION)
    monkeypatch.delenv("FACEGATE_MQTT_ENDPOINT", raising=False)
    make_bucket(moto_session, "facegate-photos")
    return load_settings()


def test_aws_backend_builds_aws_adapters_with_standard_retries(aws_settings):
    from core.bootstrap import build_services
    from core.events.aws import AwsEventStore
    from core.faces.aws import RekognitionFaceCollections
    from core.objects.aws import S3ObjectStore
    from core.web.client.http import HttpFaceApi

    services = build_services(aws_settings)
    assert isinstance(services.objects, S3ObjectStore)
    assert isinstance(services.faces, RekognitionFaceCollections)
    assert isinstance(services.events.resolve(), AwsEventStore)  # built on first use (Lambda never uses it)
    assert isinstance(services.api, HttpFaceApi)
    for client in (services.objects.client, services.faces.client):
        assert client.meta.region_name == REGION and client.meta.config.retries["mode"] == "standard"
    # The publisher has not connected just by being built (Lambda never publishes).
    assert services.publisher.status()["connected"] is False
    services.close()


def test_publishing_without_a_device_certificate_says_to_deploy(aws_settings):
    from core.bootstrap.aws import build_aws_services

    services = build_aws_services(aws_settings)
    with pytest.raises(ResourceNotFound, match="deploy up"):
        services.publisher.publish("sensor", {"DeviceID": "id001", "Datetime": "2026-01-01T00:00:00Z", "Value": 1})


def test_iot_endpoint_comes_from_settings_or_iot(aws_settings, moto_session):
    import dataclasses

    from core.bootstrap.aws import iot_data_endpoint

    assert iot_data_endpoint(aws_settings, moto_session).endswith(f"-ats.iot.{REGION}.amazonaws.com")
    given = dataclasses.replace(aws_settings, mqtt_endpoint="abc-ats.iot.ap-northeast-1.amazonaws.com")
    assert iot_data_endpoint(given, moto_session) == "abc-ats.iot.ap-northeast-1.amazonaws.com"


def test_search_lambda_answers_the_courses_device_request_in_the_aws_world(aws_settings, moto_session, monkeypatch):
    from lambda_src import _container, search

    monkeypatch.setattr(_container, "_services", None)
    services = _container.services()  # built from FACEGATE_* exactly as in Lambda
    moto_session.client("s3").put_object(
        Bucket="facegate-photos", Key="image01_20190808181200.jpg", Body=b"\xff\xd8 a photo"
    )
    face = {"FaceId": "38271d79-7bc2-5efb-b752-398a8d575b85", "ExternalImageId": "Taro_Yamada", "Confidence": 99.9}
    with Stubber(services.faces.client) as stub:
        stub.add_response(
            "search_faces_by_image",
            {"FaceMatches": [{"Similarity": 98.5, "Face": face}]},
            {
                "CollectionId": "facegate",
                # Rekognition reads the device's photo where it lies, as the course's Lambda asks it to
                "Image": {"S3Object": {"Bucket": "facegate-photos", "Name": "image01_20190808181200.jpg"}},
                "MaxFaces": 10,
                "FaceMatchThreshold": 75.0,
                "QualityFilter": "NONE",
            },
        )
        event = {
            "httpMethod": "POST",
            "resource": "/search",
            "requestContext": {"requestId": "req-1"},
            "body": json.dumps(
                {"file_name": "image01_20190808181200.jpg", "bucket_name": "facegate-photos", "threshold": 75}
            ),
        }
        answer = search.handler(event, None)
        assert answer["statusCode"] == 200, answer
        stub.assert_no_pending_responses()
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["msg"] == "[SUCCEEDED]Rekognition done"
    assert body["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
