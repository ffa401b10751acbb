"""``deploy up / status / down`` end to end, offline.

moto serves S3, IoT (certificates from our CSR, policies, things), STS and API Gateway keys
for real. CloudFormation is moto too for the artifacts template; for the main template it
is botocore's Stubber, because moto cannot create its Rekognition collection (FIELD_NOTES):
the Stubber checks every CloudFormation request we send against the service model, and the
test checks what we send (template, parameters, capabilities) and what we do with answers.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from core.config import load_settings
from core.deploy import package, state
from core.deploy.stack import Deployer, DeployOptions, artifacts_stack_name
from core.deploy.template import ARTIFACTS_TEMPLATE_FILE, load_template, render_template, template_json
from core.errors import ConfigError, DeployFailed
from tests.aws.conftest import REGION, make_bucket

STACK = "facegate"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def deploy_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_SECRETS_FILE", str(tmp_path / "secrets.toml"))
    for var in ("FACEGATE_BACKEND", "FACEGATE_COLLECTION", "FACEGATE_API_KEY", "FACEGATE_MQTT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return load_settings()


# ------------------------------------------------------------------ package
def test_lambda_zip_is_reproducible_and_holds_only_code(tmp_path):
    first, digest1 = package.build_lambda_zip(tmp_path / "a", requirements=None)
    second, digest2 = package.build_lambda_zip(tmp_path / "b", requirements=None)
    assert digest1 == digest2 and first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "lambda_src/search.py" in names and "lambda_src/analyze.py" in names and "core/web/routes.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "data/", ".")) or n.endswith(".pyc")]


def test_lambda_zip_vendors_requirements_and_handlers_import_from_it(tmp_path):
    def fake_pip(requirements, target):  # stands in for pip only; offline CI cannot download wheels
        (target / "vendored_pkg").mkdir()
        (target / "vendored_pkg" / "__init__.py").write_text("VALUE = 1\n")

    req = tmp_path / "req.txt"
    req.write_text("vendored_pkg\n")
    path, _ = package.build_lambda_zip(tmp_path / "out", requirements=req, vendor=fake_pip)
    extracted = tmp_path / "x"
    zipfile.ZipFile(path).extractall(extracted)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lambda_src.search, lambda_src.analyze, vendored_pkg, core; print(core.__file__)",
        ],
        cwd=extracted,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(extracted))


def test_pip_command_targets_lambdas_platform(tmp_path, monkeypatch):
    seen = {}

    def run(cmd, **_):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 1, "", "no network")

    monkeypatch.setattr(package.subprocess, "run", run)
    with pytest.raises(ConfigError, match="no network"):
        package.vendor_requirements(package.LAMBDA_REQUIREMENTS, tmp_path)
    cmd = " ".join(seen["cmd"])
    assert "--platform manylinux2014_x86_64" in cmd and "--python-version 3.12" in cmd and "--only-binary=:all:" in cmd
    runtime = render_template()["Resources"]["SearchFunction"]["Properties"]["Runtime"]
    assert runtime == f"python{package.PYTHON_VERSION}"


# ------------------------------------------------------------------ app configuration
def test_app_config_block_keeps_the_users_file_and_is_owner_only(tmp_path, monkeypatch):
    path = tmp_path / "secrets.toml"
    path.write_text('[facegate]\nlanguage = "ja"\n\n[other]\nx = 1\n')
    state.write_app_config(path, {"backend": "aws", "photos_bucket": "stack-photosbucket-abc", "api_key": 'k"ey'})
    state.write_app_config(path, {"backend": "aws", "photos_bucket": "stack-photosbucket-def", "api_key": "k2"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    settings = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path / "d")}, secrets_file=path)
    assert (settings.backend, settings.photos_bucket, settings.api_key, settings.language) == (
        "aws",
        "stack-photosbucket-def",
        "k2",
        "ja",
    )
    assert state.remove_app_config(path)
    assert path.read_text() == '[facegate]\nlanguage = "ja"\n\n[other]\nx = 1\n'
    assert not state.remove_app_config(path)


def test_app_config_refuses_to_duplicate_a_users_key(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('FACEGATE_BACKEND = "local"\n')
    with pytest.raises(ConfigError, match="FACEGATE_"):
        state.write_app_config(path, {"backend": "aws"})
    assert path.read_text() == 'FACEGATE_BACKEND = "local"\n'


# ------------------------------------------------------------------ artifacts stack on moto
# moto skips the bucket policy (DenyInsecureTransport); test_template checks it instead.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+BucketPolicy")
def test_artifacts_stack_is_created_private_and_encrypted_on_moto(moto_session, deploy_settings):
    deployer = Deployer(
        deploy_settings, DeployOptions(STACK, REGION, wait_delay=0), clients=lambda name: moto_session.client(name)
    )
    stack = deployer.ensure_stack(artifacts_stack_name(STACK), load_template(ARTIFACTS_TEMPLATE_FILE), {})
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    bucket = deployer.outputs(stack)["ArtifactsBucket"]
    s3 = moto_session.client("s3")
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    again = deployer.ensure_stack(artifacts_stack_name(STACK), load_template(ARTIFACTS_TEMPLATE_FILE), {})
    assert again["StackId"] == stack["StackId"]


# ------------------------------------------------------------------ up / status / down
def _stack(name, status, outputs=None):
    out = {
        "StackName": name,
        "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1",
        "CreationTime": NOW,
        "StackStatus": status,
    }
    if outputs:
        out["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    return {"Stacks": [out]}


@pytest.fixture
def account(moto_session):
    """What the stacks would have created, made in moto so that the deployer's own calls
    (certificates, keys, uploads, emptying) run for real."""
    for bucket in ("fg-artifacts", "fg-photos", "fg-faces", "fg-logs"):
        make_bucket(moto_session, bucket)
    s3 = moto_session.client("s3")
    s3.put_bucket_versioning(Bucket="fg-logs", VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket="fg-logs", Key="auth/1-auth-log-data.json", Body=f'{{"v": {i}}}'.encode())
    s3.delete_object(Bucket="fg-logs", Key="auth/1-auth-log-data.json")  # a delete marker too
    s3.put_object(Bucket="fg-photos", Key="image01_20190808181200.jpg", Body=b"jpeg")
    iot = moto_session.client("iot")
    iot.create_thing(thingName="facegate-id001")
    iot.create_policy(
        policyName="facegate-DevicePolicy-X",
        policyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/handson/*"}
                ],
            }
        ),
    )
    key_id = moto_session.client("apigateway").create_api_key(name="facegate", enabled=True)["id"]
    return {
        "Region": REGION,
        "CollectionId": "facegate",
        "PhotosBucket": "fg-photos",
        "FacesBucket": "fg-faces",
        "LogsBucket": "fg-logs",
        "SensorTable": "facegate-SensorTable-X",
        "ThingName": "facegate-id001",
        "DeviceId": "id001",
        "TopicPrefix": "handson",
        "IotPolicyName": "facegate-DevicePolicy-X",
        "ApiUrl": f"https://abc123.execute-api.{REGION}.amazonaws.com/prod",
        "ApiKeyId": key_id,
    }


def _deployer(moto_session, settings, cfn):
    clients = lambda name: cfn if name == "cloudformation" else moto_session.client(name)  # noqa: E731
    return Deployer(
        settings,
        DeployOptions(STACK, REGION, vendor=False, wait_delay=0),
        clients=clients,
        secrets_file=settings.data_dir.parent / "secrets.toml",
    )


def _queue_up(stub, outputs, *, main_exists: bool):
    art = artifacts_stack_name(STACK)
    art_out = {"ArtifactsBucket": "fg-artifacts"}
    stub.add_response("describe_stacks", _stack(art, "CREATE_COMPLETE", art_out), {"StackName": art})
    stub.add_client_error(
        "update_stack",
        "ValidationError",
        "No updates are to be performed.",
        expected_params={
            "StackName": art,
            "Parameters": [],
            "Capabilities": ["CAPABILITY_IAM"],
            "TemplateBody": template_json(load_template(ARTIFACTS_TEMPLATE_FILE)),
        },
    )
    stub.add_response("describe_stacks", _stack(art, "CREATE_COMPLETE", art_out), {"StackName": art})
    params = [
        {"ParameterKey": "LambdaCodeBucket", "ParameterValue": "fg-artifacts"},
        {"ParameterKey": "LambdaCodeKey", "ParameterValue": ANY},
        {"ParameterKey": "CollectionId", "ParameterValue": "facegate"},
        {"ParameterKey": "DeviceId", "ParameterValue": "id001"},
        {"ParameterKey": "TopicPrefix", "ParameterValue": "handson"},
        {"ParameterKey": "PhotosRetentionDays", "ParameterValue": "7"},
        {"ParameterKey": "LogsRetentionDays", "ParameterValue": "365"},
    ]
    body = template_json(render_template())
    if main_exists:
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", outputs), {"StackName": STACK})
        stub.add_client_error(
            "update_stack",
            "ValidationError",
            "No updates are to be performed.",
            expected_params={
                "StackName": STACK,
                "Parameters": params,
                "TemplateBody": body,
                "Capabilities": ["CAPABILITY_IAM"],
            },
        )
    else:
        stub.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {STACK} does not exist",
            expected_params={"StackName": STACK},
        )
        stub.add_response(
            "create_stack",
            {"StackId": "arn:x"},
            {
                "StackName": STACK,
                "Parameters": params,
                "Capabilities": ["CAPABILITY_IAM"],
                "OnFailure": "ROLLBACK",
                "Tags": [{"Key": "app", "Value": "facegate"}],
                "TemplateBody": body,
            },
        )
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_IN_PROGRESS"), {"StackName": STACK})
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", outputs), {"StackName": STACK})
    stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", outputs), {"StackName": STACK})


def test_up_status_down(moto_session, deploy_settings, account):
    cfn = moto_session.client("cloudformation")
    iot = moto_session.client("iot")
    s3 = moto_session.client("s3")
    with Stubber(cfn) as stub:
        deployer = _deployer(moto_session, deploy_settings, cfn)
        # --- up: creates the main stack, a certificate, the app configuration
        _queue_up(stub, account, main_exists=False)
        summary = deployer.up()
        stub.assert_no_pending_responses()
        creds = state.device_credentials(deploy_settings, STACK)
        for path in (creds.cert_file, creds.key_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(creds.key_file.parent.stat().st_mode) == 0o700
        assert "PRIVATE KEY" in creds.key_file.read_text() and creds.client_id == "facegate-id001"
        cert_arn = iot.list_thing_principals(thingName="facegate-id001")["principals"]
        assert cert_arn == [creds.certificate_arn]
        assert (
            iot.list_attached_policies(target=creds.certificate_arn)["policies"][0]["policyName"]
            == "facegate-DevicePolicy-X"
        )
        assert s3.head_object(Bucket="fg-artifacts", Key=summary["lambda_code"])["ContentLength"] > 1000
        api_key = moto_session.client("apigateway").get_api_key(apiKey=account["ApiKeyId"], includeValue=True)
        assert api_key["value"] not in json.dumps(summary)  # the summary is printed: no secret in it
        app = load_settings(
            env={"FACEGATE_DATA_DIR": str(deploy_settings.data_dir)}, secrets_file=deployer.secrets_file
        )
        assert (app.backend, app.photos_bucket, app.logs_bucket, app.sensor_table, app.api_url, app.api_key) == (
            "aws",
            "fg-photos",
            "fg-logs",
            "facegate-SensorTable-X",
            account["ApiUrl"],
            api_key["value"],
        )
        assert app.mqtt_endpoint.endswith(f"-ats.iot.{REGION}.amazonaws.com")

        # --- up again: nothing changes, the certificate and the code upload are reused
        _queue_up(stub, account, main_exists=True)
        assert deployer.up()["lambda_code"] == summary["lambda_code"]
        stub.assert_no_pending_responses()
        assert state.device_credentials(deploy_settings, STACK).certificate_id == creds.certificate_id
        assert len(iot.list_certificates()["certificates"]) == 1

        # --- status
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", account), {"StackName": STACK})
        stub.add_response(
            "describe_stacks",
            _stack(artifacts_stack_name(STACK), "CREATE_COMPLETE", {"ArtifactsBucket": "fg-artifacts"}),
            {"StackName": artifacts_stack_name(STACK)},
        )
        status = deployer.status()
        assert status["main"]["status"] == "CREATE_COMPLETE"
        assert status["device_certificate"]["status"] == "ACTIVE"

        # --- down: empties every bucket (all versions), deletes certificates, both stacks, local state
        art = artifacts_stack_name(STACK)
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", account), {"StackName": STACK})
        stub.add_response("describe_stacks", _stack(STACK, "CREATE_COMPLETE", account), {"StackName": STACK})
        stub.add_response("delete_stack", {}, {"StackName": STACK})
        stub.add_client_error("describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist")
        art_stack = _stack(art, "CREATE_COMPLETE", {"ArtifactsBucket": "fg-artifacts"})
        stub.add_response("describe_stacks", art_stack, {"StackName": art})
        stub.add_response("describe_stacks", art_stack, {"StackName": art})
        stub.add_response("delete_stack", {}, {"StackName": art})
        stub.add_response("describe_stacks", _stack(art, "DELETE_COMPLETE"), {"StackName": art})
        result = deployer.down()
        stub.assert_no_pending_responses()
    assert result["certificates_deleted"] == [creds.certificate_id] and result["app_config_removed"]
    assert iot.list_certificates()["certificates"] == []
    for bucket in ("fg-artifacts", "fg-photos", "fg-logs"):
        listed = s3.list_object_versions(Bucket=bucket)
        assert not listed.get("Versions") and not listed.get("DeleteMarkers"), bucket
    assert not state.stack_dir(deploy_settings, STACK).exists()
    assert "FACEGATE_" not in (deployer.secrets_file.read_text() if deployer.secrets_file.exists() else "")


def test_a_rolled_back_creation_reports_cloudformations_reasons(moto_session, deploy_settings):
    cfn = moto_session.client("cloudformation")
    with Stubber(cfn) as stub:
        deployer = _deployer(moto_session, deploy_settings, cfn)
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id x does not exist")
        stub.add_response("create_stack", {"StackId": "arn:x"})
        stub.add_response("describe_stacks", _stack("x", "ROLLBACK_COMPLETE"))  # the waiter gives up
        stub.add_response("describe_stacks", _stack("x", "ROLLBACK_COMPLETE"))
        stub.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    {
                        "StackId": "arn:x",
                        "EventId": "1",
                        "StackName": "x",
                        "Timestamp": NOW,
                        "LogicalResourceId": "FaceCollection",
                        "ResourceStatus": "CREATE_FAILED",
                        "ResourceStatusReason": "collection facegate already exists",
                    }
                ]
            },
        )
        with pytest.raises(DeployFailed, match="FaceCollection: collection facegate already exists"):
            deployer.ensure_stack("x", {"Resources": {}}, {})


def test_down_asks_before_deleting_anything(deploy_settings, capsys, monkeypatch):
    from core.cli import main

    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["deploy", "down"]) == 2
    assert "--yes" in capsys.readouterr().err
