"""AWS stand-ins: moto where it is faithful (S3, DynamoDB, IoT control plane, IAM, Firehose,
Glue, Athena, Logs, Lambda and API Gateway control planes, STS), botocore's Stubber where it is
not (Rekognition, QuickSight), and ``tests.aws.fakes`` for CloudFormation's stack lifecycle
over those moto services. Nothing here reaches AWS."""

from __future__ import annotations

import boto3
import pytest

from core.config import load_settings
from core.deploy.stack import Deployer, DeployOptions
from tests.aws.fakes import CertificatesFromCsr, EventualDetach, FakeCloudFormation, intercept, inventory

REGION = "ap-northeast-1"
STACK = "facegate"
QUICKSIGHT_USER = f"arn:aws:quicksight:{REGION}:123456789012:user/default/learner"


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


class Account:
    """One moto account with the fake CloudFormation, and the boto3 clients every deployer
    run of the test shares (so faults installed on them reach the deployer)."""

    def __init__(self, session, tmp_path, monkeypatch):
        self.session = session
        self.cf = FakeCloudFormation(session, REGION)
        self.tmp = tmp_path
        self.monkeypatch = monkeypatch
        # Compiling bytecode for Python 3.12 is tested once, in test_lambda_package.py.
        monkeypatch.setenv("FACEGATE_LAMBDA_PYTHON", "none")
        self.secrets = tmp_path / "secrets.toml"
        self._clients = {"cloudformation": self.cf.client()}
        iot = session.client("iot", region_name=REGION)
        raw_iot = session.client("iot", region_name=REGION)
        CertificatesFromCsr(iot, raw_iot)
        self.detach = EventualDetach(iot, raw_iot, lag=2)
        self._clients["iot"] = iot

    def client(self, name, region=None):
        key = name if region in (None, REGION) else (name, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(name, region_name=region or REGION)
            if name == "quicksight":
                self._quicksight(self._clients[key])
        return self._clients[key]

    def _quicksight(self, client):
        """QuickSight as subscribed by the learner: moto keeps users; DescribeAccountSubscription
        (not in moto) answers Enterprise edition."""
        moto_qs = self.session.client("quicksight", region_name=REGION)
        moto_qs.register_user(
            IdentityType="IAM", Email="learner@example.com", UserRole="AUTHOR", AwsAccountId="123456789012",
            Namespace="default", UserName="learner", IamArn="arn:aws:iam::123456789012:user/learner",
        )  # fmt: skip
        self.quicksight_edition = "ENTERPRISE"

        def answer(op, params):
            if op == "DescribeAccountSubscription":
                info = {"AccountName": "learner", "Edition": self.quicksight_edition}
                info["AccountSubscriptionStatus"] = "ACCOUNT_CREATED"
                return {"AccountInfo": info, "Status": 200}
            return None

        intercept(client, answer)

    def settings(self, **env):
        base = {"FACEGATE_DATA_DIR": str(self.tmp / "data")}
        base.update({f"FACEGATE_{k.upper()}": str(v) for k, v in env.items()})
        return load_settings(env=base, secrets_file=self.tmp / "user-secrets.toml")

    def deployer(self, stack=STACK, parameters=None, **env) -> Deployer:
        options = DeployOptions(
            stack,
            REGION,
            parameters={"QuickSightPrincipalArn": QUICKSIGHT_USER, **(parameters or {})},
            wait_delay=0,
            sleep=lambda _s: None,
        )
        return Deployer(self.settings(**env), options, clients=self.client, secrets_file=self.secrets)

    def left(self) -> dict:
        return {kind: items for kind, items in inventory(self.session, REGION, self.cf).items() if items}


@pytest.fixture
def account(moto_session, tmp_path, monkeypatch):
    return Account(moto_session, tmp_path, monkeypatch)
