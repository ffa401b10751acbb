"""AWS stand-ins: moto where it is faithful (S3, DynamoDB, IoT control plane, STS, API Gateway
control plane, CloudFormation for plain resources), botocore's Stubber where it is not
(Rekognition; CloudFormation for this project's full template). Nothing here reaches AWS."""

from __future__ import annotations

import boto3
import pytest

REGION = "ap-northeast-1"


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials in the standard chain's first place, so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def moto_session(aws_env):
    """A boto3 session whose every call is served by moto (in process)."""
    from moto import mock_aws

    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def make_bucket(session, name: str) -> None:
    session.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
