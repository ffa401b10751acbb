"""The AWS-compatible endpoint on a real local world, driven by real clients.

One endpoint per test session (the face engine loads once), under uvicorn on a free loopback
port, with an admin and a device credential. Clients are boto3 (botocore) and, for the CLI
tests, the ``aws`` command of the ``awscli`` package (its own vendored botocore).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"


@dataclass
class Endpoint:
    settings: object
    services: object
    app: object
    url: str
    admin: object  # core.awsapi.credentials.Credential
    device: object
    env: dict

    def client(self, service: str, cred=None, **config):
        cred = cred or self.admin
        return boto3.session.Session(
            aws_access_key_id=cred.access_key_id,
            aws_secret_access_key=cred.secret_access_key,
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.url,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )


def endpoint_env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "AWS_"))}
    env.update(
        FACEGATE_DATA_DIR=str(data_dir),
        FACEGATE_SECRETS_FILE=str(data_dir / "no-secrets.toml"),
        FACEGATE_BACKEND="local",
        FACEGATE_PUBLISHER="direct",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    from core.awsapi.app import build_endpoint
    from core.awsapi.credentials import CredentialStore
    from core.awsapi.server import ServerThread
    from core.bootstrap import build_services
    from core.config import load_settings

    data_dir = tmp_path_factory.mktemp("awsapi") / "data"
    env = endpoint_env(data_dir)
    settings = load_settings(env=env)
    services = build_services(settings)
    store = CredentialStore(settings.data_dir)
    admin = store.create("learner", "admin")
    device = store.create("id001", "device")
    app = build_endpoint(settings, services)
    server = ServerThread(app)
    yield Endpoint(settings, services, app, server.url, admin, device, env)
    server.stop()
    app.close()
    services.close()


@pytest.fixture(scope="session")
def aws_cli() -> list[str]:
    """The ``aws`` command from the awscli package in this venv (requirements-dev.txt)."""
    exe = Path(sys.executable).with_name("aws")
    if not exe.is_file():
        found = shutil.which("aws")
        if not found:
            pytest.skip("the awscli package is not installed (pip install -r requirements-dev.txt)")
        exe = Path(found)
    return [str(exe)]


def run_cli(endpoint: Endpoint, aws_cli, *args, cred=None, check=True, input_bytes=None, cwd=None):
    """Run ``aws ARGS`` against the endpoint with only the aws-env style variables set."""
    cred = cred or endpoint.admin
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=cred.access_key_id,
        AWS_SECRET_ACCESS_KEY=cred.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint.url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
    )
    proc = subprocess.run([*aws_cli, *args], env=env, capture_output=True, timeout=180, input=input_bytes, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc


def validate_output(service: str, operation: str, response: dict) -> None:
    """Check a parsed response against botocore's output shape, as the Stubber checks what it
    is given: unknown keys, missing required members and wrong types all fail."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, model.output_shape)
    assert not report.has_errors(), report.generate_report()
