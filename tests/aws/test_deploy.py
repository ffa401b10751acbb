"""``deploy up / status / down`` end to end, offline, and the code zip.

moto serves S3, IoT (certificates from our CSR, policies, things), IAM, Lambda, API Gateway and
the rest for real; CloudFormation is ``tests.aws.fakes.FakeCloudFormation`` over them (moto's
own cannot run the main template: no Rekognition collection, no rollback). moto's own
CloudFormation still creates the artifacts stack in one test, as a second opinion.
"""

from __future__ import annotations

import json
import stat
import sys

import pytest

from core.config import load_settings
from core.deploy import package, state
from core.deploy.stack import Deployer, DeployOptions, artifacts_stack_name
from core.deploy.template import ARTIFACTS_TEMPLATE_FILE, load_template
from core.errors import ConfigError, DeployFailed
from tests.aws.conftest import REGION, STACK


@pytest.fixture
def deploy_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_SECRETS_FILE", str(tmp_path / "secrets.toml"))
    for var in ("FACEGATE_BACKEND", "FACEGATE_COLLECTION", "FACEGATE_API_KEY", "FACEGATE_MQTT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return load_settings()


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
def test_up_status_down(account):
    """The happy path in detail (tests/aws/test_teardown.py walks every failure)."""
    deployer = account.deployer()
    summary = deployer.up()
    settings = account.settings()
    creds = state.device_credentials(settings, STACK)
    for path in (creds.cert_file, creds.key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds.key_file.parent.stat().st_mode) == 0o700
    assert "PRIVATE KEY" in creds.key_file.read_text() and creds.client_id == "facegate-id001"
    out = account.cf._find(STACK).outputs
    s3 = account.session.client("s3", region_name=REGION)
    bucket = account.cf._find(artifacts_stack_name(STACK)).outputs["ArtifactsBucket"]
    key, version = summary["lambda_code"].split("?versionId=")
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    assert head["ContentLength"] > 1000 and len(head["Metadata"]["sha256"]) == 64
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    code_rules = [r for r in rules if key.startswith(r["Filter"]["Prefix"])]
    assert code_rules and not [r for r in code_rules if "Expiration" in r]
    functions = account.session.client("lambda", region_name=REGION)
    assert functions.get_function(FunctionName=f"{STACK}-search")["Configuration"]["Handler"] == (
        "lambda_src.search.handler"
    )
    api_key = account.session.client("apigateway", region_name=REGION).get_api_key(
        apiKey=out["ApiKeyId"], includeValue=True
    )
    assert api_key["value"] not in json.dumps(summary)  # the summary is printed: no secret in it
    app = load_settings(env={"FACEGATE_DATA_DIR": str(settings.data_dir)}, secrets_file=account.secrets)
    assert (app.backend, app.photos_bucket, app.logs_bucket, app.sensor_table, app.api_url, app.api_key) == (
        "aws",
        out["PhotosBucket"],
        out["LogsBucket"],
        out["SensorTable"],
        out["ApiUrl"],
        api_key["value"],
    )
    assert app.mqtt_endpoint.endswith(f"-ats.iot.{REGION}.amazonaws.com")
    assert app.collection == out["CollectionId"] == STACK
    assert (app.glue_database, app.athena_workgroup) == (out["GlueDatabase"], out["AthenaWorkGroup"])

    status = account.deployer().status()
    assert status["main"]["status"] == "CREATE_COMPLETE" and status["artifacts"]["status"] == "CREATE_COMPLETE"
    assert status["device_certificate"]["status"] == "ACTIVE"

    # down empties every bucket, all versions and delete markers included
    logs = out["LogsBucket"]
    s3.put_bucket_versioning(Bucket=logs, VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket=logs, Key="auth/1-auth-log-data.json", Body=f'{{"v": {i}}}'.encode())
    s3.delete_object(Bucket=logs, Key="auth/1-auth-log-data.json")
    s3.put_object(Bucket=out["PhotosBucket"], Key="image01_20190808181200.jpg", Body=b"jpeg")
    result = account.deployer().down()
    assert result["certificates_deleted"] == [creds.certificate_id] and result["app_config_removed"]
    assert (result["main"], result["artifacts"]) == ("DELETED", "DELETED")
    assert account.left() == {}
    assert not state.stack_dir(settings, STACK).exists()
    assert "FACEGATE_" not in (account.secrets.read_text() if account.secrets.exists() else "")
    assert account.deployer().down()["main"] == "NOT_DEPLOYED"  # a second down is harmless


def test_a_rolled_back_creation_reports_cloudformations_reasons(account):
    account.cf.fail("FaceCollection", reason="collection facegate already exists")
    with pytest.raises(DeployFailed, match="FaceCollection: collection facegate already exists"):
        account.deployer().up()
    assert account.cf._find(STACK).status == "ROLLBACK_COMPLETE"


def test_a_stack_left_delete_failed_is_not_silently_recreated(account):
    account.deployer().up()
    account.cf.fail("SensorTable", "delete", reason="table is being backed up", times=3)
    with pytest.raises(DeployFailed, match="SensorTable: table is being backed up"):
        account.deployer().down()
    assert account.cf._find(STACK).status == "DELETE_FAILED"
    with pytest.raises(DeployFailed, match="a `deploy down` did not finish"):
        account.deployer().up()
    account.deployer().down()
    assert account.left() == {}


def test_down_asks_before_deleting_anything(deploy_settings, capsys, monkeypatch):
    from core.cli import main

    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["deploy", "down"]) == 2
    assert "--yes" in capsys.readouterr().err


def test_the_athena_reader_queries_the_stacks_own_database(deploy_settings):
    """Not a hard-coded `facegate`: what `deploy up` wrote, else the template's own default."""
    import dataclasses

    from core.events.aws import build_aws_event_store

    written = dataclasses.replace(deploy_settings, glue_database="facegate_dev", athena_workgroup="facegate-dev-logs")
    reader = build_aws_event_store(written, use_athena=True).athena
    assert (reader.database, reader.workgroup) == ("facegate_dev", "facegate-dev-logs")
    fallback = dataclasses.replace(deploy_settings, stack_name="FaceGate-Dev")
    reader = build_aws_event_store(fallback, use_athena=True).athena
    assert (reader.database, reader.workgroup) == ("facegate_dev", "FaceGate-Dev-logs")


def test_a_new_build_is_a_new_version_and_the_previous_one_stays_for_rollbacks(account, monkeypatch):
    first = account.deployer().up()["lambda_code"]
    real = package.build_lambda_zip

    def changed(out_dir, **kwargs):
        (out_dir / "extra").mkdir()
        built = real(out_dir / "extra", **kwargs)
        data = built.path.read_bytes() + b"\0"  # a different build (zip readers ignore trailing bytes)
        built.path.write_bytes(data)
        import dataclasses
        import hashlib

        return dataclasses.replace(built, sha256=hashlib.sha256(data).hexdigest())

    monkeypatch.setattr(package, "build_lambda_zip", changed)
    second = account.deployer().up()["lambda_code"]
    key, old_version = first.split("?versionId=")
    new_version = second.split("?versionId=")[1]
    assert new_version != old_version
    params = {p: v for p, v in account.cf._find(STACK).params.items()}
    assert params["LambdaCodeVersion"] == new_version
    s3 = account.session.client("s3", region_name=REGION)
    bucket = account.cf._find(artifacts_stack_name(STACK)).outputs["ArtifactsBucket"]
    versions = {v["VersionId"]: v["IsLatest"] for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]}
    assert versions == {old_version: False, new_version: True}
    account.deployer().down()
    assert account.left() == {}
