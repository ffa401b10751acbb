"""One contract, two worlds: every test in this folder runs against the local world and
against the aws world, both built by the composition root (``build_services`` /
``build_aws_services``).

- local: the real offline engine, object store and event store in a temp data dir.
- aws: S3 and DynamoDB are moto (faithful); Rekognition is botocore's Stubber (moto has no
  Rekognition), so the aws world's face answers are the ones a test queues with
  ``world.aws_answers(...)`` -- what Rekognition documents for that situation -- while
  the Stubber checks every request the adapter sends against the service model.

In both worlds every face response is validated against Rekognition's output shape, so
the local engine cannot drift from what the AWS world returns.
"""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters

REGION = "ap-northeast-1"
BUCKETS = ("facegate-photos", "facegate-faces", "facegate-logs")
SENSOR_TABLE = "facegate-sensor"


class World:
    def __init__(self, name: str, services, stub: Stubber | None = None):
        self.name = name
        self.services = services
        self.stub = stub
        self._model = (
            boto3.session.Session()
            .client("rekognition", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
            .meta
        )

    @property
    def faces(self):
        return self.services.faces

    @property
    def objects(self):
        return self.services.objects

    def aws_answers(
        self,
        operation: str,
        response: dict | None = None,
        *,
        error: str | None = None,
        message: str = "",
        params: dict | None = None,
    ) -> None:
        """What Rekognition answers next in the aws world (ignored by the local world, which
        computes its own answer). ``params``: the exact request the adapter must send."""
        if self.stub is None:
            return
        if error:
            self.stub.add_client_error(operation, error, message or error, expected_params=params)
        else:
            self.stub.add_response(operation, response or {}, params)

    def call(self, operation: str, **kwargs) -> dict:
        """``faces.<operation>(**kwargs)``, its response checked against the service model."""
        response = getattr(self.faces, operation)(**kwargs)
        api_name = self._model.method_to_api_mapping[operation]
        validate_parameters(response, self._model.service_model.operation_model(api_name).output_shape)
        return response


@pytest.fixture
def contract_settings(tmp_path, monkeypatch):
    from core.config import load_settings

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("FACEGATE_PUBLISHER", "direct")
    for var in ("FACEGATE_BACKEND", "FACEGATE_COLLECTION", "FACEGATE_MATCH_THRESHOLD", "FACEGATE_MQTT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return load_settings()


def _aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ):
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "aws"])
def world(request, contract_settings, monkeypatch):
    if request.param == "local":
        from core.bootstrap import build_services

        services = build_services(contract_settings)
        yield World("local", services)
        services.close()
        return
    from moto import mock_aws

    from core.bootstrap.aws import build_aws_services

    _aws_env(monkeypatch)
    settings = dataclasses.replace(contract_settings, backend="aws")
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        session.client("dynamodb").create_table(
            TableName=SENSOR_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "DeviceID", "AttributeType": "S"},
                {"AttributeName": "Datetime", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "DeviceID", "KeyType": "HASH"},
                {"AttributeName": "Datetime", "KeyType": "RANGE"},
            ],
        )
        services = build_aws_services(settings, session=session)
        with Stubber(services.faces.client) as stub:
            yield World("aws", services, stub)
            stub.assert_no_pending_responses()
        services.close()
