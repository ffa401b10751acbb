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


CLIENT_IDS = "from core.telemetry.aws import process_client_id as p; print(p('facegate-id001'), p('facegate-id001'))"


def _connect_patterns(thing: str) -> list[str]:
    """The device policy's iot:Connect resources as IoT evaluates them for ``thing``."""
    from core.deploy.template import render_template

    statements = render_template()["Resources"]["DevicePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (connect,) = [s for s in statements if s["Action"] == "iot:Connect"]
    subs = {"${AWS::Partition}": "aws", "${AWS::Region}": REGION, "${AWS::AccountId}": "123456789012"}
    subs["${DeviceThing}"] = thing
    out = []
    for resource in connect["Resource"]:
        text = resource["Fn::Sub"]
        for name, value in subs.items():
            text = text.replace(name, value)
        out.append(text)
    return out


def test_each_process_connects_with_its_own_client_id_that_the_policy_allows():
    """Issue 14 §8: the app, `serve` and `iot publish` all used the thing name, so IoT Core
    disconnected each for the next. Now each process has its own id inside ``<thing>-*``."""
    import fnmatch
    import subprocess
    import sys

    runs = [
        subprocess.run([sys.executable, "-c", CLIENT_IDS], capture_output=True, text=True, timeout=120) for _ in "ab"
    ]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    ids = [r.stdout.split() for r in runs]
    assert ids[0][0] == ids[0][1] and ids[1][0] == ids[1][1]  # one id per process, kept
    assert ids[0][0] != ids[1][0]  # two processes, two ids
    patterns = _connect_patterns("facegate-id001")
    arn = f"arn:aws:iot:{REGION}:123456789012:client/"
    for client_id, _ in ids:
        assert any(fnmatch.fnmatchcase(arn + client_id, p) for p in patterns), (client_id, patterns)
        assert not fnmatch.fnmatchcase(arn + client_id, patterns[0])  # not the bare thing name
    # and the policy does not let another thing's name through
    assert not any(fnmatch.fnmatchcase(arn + "facegate-id002-1-ab", p) for p in patterns)


def test_the_aws_publisher_connects_with_the_process_client_id(aws_settings, tmp_path):
    """The publisher the aws composition root builds uses that id (a real awscrt client with
    a real certificate; the endpoint is a closed local port, so it stays offline)."""
    import dataclasses
    import datetime
    import socket

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from core.bootstrap.aws import build_aws_services
    from core.deploy import state
    from core.telemetry.aws import process_client_id

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")])
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now)
    cert = builder.not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    thing = f"{aws_settings.stack_name}-{aws_settings.device_id}"
    state.save_device_credentials(
        aws_settings,
        aws_settings.stack_name,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        client_id=thing,
        certificate_id="c" * 64,
        certificate_arn=f"arn:aws:iot:{REGION}:123456789012:cert/{'c' * 64}",
    )
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = dataclasses.replace(aws_settings, mqtt_endpoint=f"127.0.0.1:{port}")
    services = build_aws_services(settings)
    try:
        services.publisher.publish("sensor", {"DeviceID": "id001", "Datetime": "2026-01-01T00:00:00Z", "Value": 1})
        status = services.publisher.status()
        assert status["client_id"] == process_client_id(thing) != thing
        assert status["client_id"].startswith(thing + "-")
    finally:
        services.close()
