"""The AWS CLI (the ``awscli`` package: its own vendored botocore) against the endpoint, with
the course's commands as its step 1 gives them, and ``python -m core aws-env`` eval'd in a
real shell."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # each `aws` command is a new process (~1 s) and a 20 MB transfer
COLLECTION = "cli-authentication-collection"
BUCKET = "cli-rekognition-collection-source"


@pytest.fixture(scope="module")
def photos(labelled, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-photos")
    (folder / "Taro_Yamada.png").write_bytes(labelled["amy"][0].read_bytes())
    (folder / "Hanako.png").write_bytes(labelled["howard"][0].read_bytes())
    (folder / "probe.png").write_bytes(labelled["amy"][2].read_bytes())
    return folder


def _json(proc) -> dict:
    return json.loads(proc.stdout)


def test_course_step1_commands(endpoint, aws_cli, photos):
    """ステップ1: バケット、画像のアップロード、create-collection、index-faces、list-faces、
    search-faces-by-image — as the course writes them."""
    run_cli(endpoint, aws_cli, "s3", "mb", f"s3://{BUCKET}")
    run_cli(endpoint, aws_cli, "s3", "cp", str(photos / "Taro_Yamada.png"), f"s3://{BUCKET}/")
    listing = run_cli(endpoint, aws_cli, "s3", "ls").stdout.decode()
    assert BUCKET in listing
    assert "Taro_Yamada.png" in run_cli(endpoint, aws_cli, "s3", "ls", f"s3://{BUCKET}/").stdout.decode()
    out = _json(run_cli(endpoint, aws_cli, "rekognition", "create-collection", "--collection-id", COLLECTION))
    assert out["StatusCode"] == 200 and out["CollectionArn"].endswith(f"collection/{COLLECTION}")
    assert COLLECTION in _json(run_cli(endpoint, aws_cli, "rekognition", "list-collections"))["CollectionIds"]
    image = json.dumps({"S3Object": {"Bucket": BUCKET, "Name": "Taro_Yamada.png"}})
    indexed = _json(
        run_cli(
            endpoint, aws_cli, "rekognition", "index-faces", "--image", image, "--collection-id", COLLECTION,
            "--max-faces", "1", "--quality-filter", "AUTO", "--detection-attributes", "ALL",
            "--external-image-id", "Taro_Yamada",
        )
    )  # fmt: skip
    assert indexed["FaceRecords"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    by_bytes = _json(
        run_cli(
            endpoint, aws_cli, "rekognition", "index-faces", "--image-bytes", f"fileb://{photos / 'Hanako.png'}",
            "--collection-id", COLLECTION, "--external-image-id", "Hanako", "--max-faces", "1",
        )
    )  # fmt: skip
    assert by_bytes["FaceRecords"][0]["Face"]["ExternalImageId"] == "Hanako"
    faces = _json(run_cli(endpoint, aws_cli, "rekognition", "list-faces", "--collection-id", COLLECTION))["Faces"]
    assert sorted(f["ExternalImageId"] for f in faces) == ["Hanako", "Taro_Yamada"]
    found = _json(
        run_cli(
            endpoint, aws_cli, "rekognition", "search-faces-by-image", "--image", image, "--collection-id", COLLECTION
        )
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    assert found["FaceMatches"][0]["Similarity"] > 90
    probe = _json(
        run_cli(
            endpoint, aws_cli, "rekognition", "search-faces-by-image",
            "--image-bytes", f"fileb://{photos / 'probe.png'}", "--collection-id", COLLECTION,
        )
    )  # fmt: skip
    assert probe["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    detect = _json(run_cli(endpoint, aws_cli, "rekognition", "detect-faces", "--image", image, "--attributes", "ALL"))
    assert len(detect["FaceDetails"]) == 1


def test_s3_cp_of_a_large_file_goes_multipart_and_back(endpoint, aws_cli, tmp_path):
    run_cli(endpoint, aws_cli, "s3", "mb", "s3://cli-big")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024 + 7))
    run_cli(endpoint, aws_cli, "s3", "cp", str(big), "s3://cli-big/video/big.bin")
    head = _json(run_cli(endpoint, aws_cli, "s3api", "head-object", "--bucket", "cli-big", "--key", "video/big.bin"))
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == big.stat().st_size  # 8 MB parts
    back = tmp_path / "back.bin"
    run_cli(endpoint, aws_cli, "s3", "cp", "s3://cli-big/video/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    synced = tmp_path / "sync"
    run_cli(endpoint, aws_cli, "s3", "sync", "s3://cli-big", str(synced))
    assert (synced / "video" / "big.bin").stat().st_size == big.stat().st_size
    run_cli(endpoint, aws_cli, "s3", "rm", "--recursive", "s3://cli-big")
    run_cli(endpoint, aws_cli, "s3", "rb", "s3://cli-big")
    assert "cli-big" not in run_cli(endpoint, aws_cli, "s3", "ls").stdout.decode()


def test_iot_data_publish_from_the_cli_and_refusals_the_cli_prints(endpoint, aws_cli):
    proc = run_cli(
        endpoint, aws_cli, "iot-data", "publish", "--topic", "handson/sensorLogData", "--qos", "1",
        "--payload", '{"DeviceID": "id001", "Datetime": "2019-08-08T09:12:31Z", "Value": 5}', check=False,
    )  # fmt: skip
    # without a broker in this module: IoT's own 503, printed by the CLI
    assert proc.returncode != 0 and b"ServiceUnavailableException" in proc.stderr
    from core.awsapi.credentials import Credential

    fake = Credential("FGAKAAAAAAAAAAAAAAAA", "x" * 40, "nobody", "admin", "2024-01-01T00:00:00Z")
    proc = run_cli(endpoint, aws_cli, "s3", "ls", cred=fake, check=False)
    assert proc.returncode != 0 and b"InvalidAccessKeyId" in proc.stderr
    proc = run_cli(
        endpoint, aws_cli, "rekognition", "create-collection", "--collection-id", "x", cred=endpoint.device, check=False
    )
    assert proc.returncode != 0 and b"AccessDeniedException" in proc.stderr


def test_aws_env_lines_make_an_unmodified_shell_use_facegate(endpoint, aws_cli, tmp_path):
    """``eval "$(python -m core aws-env)"`` then plain ``aws`` commands: the profile written to
    FaceGate's own files (secret not in the environment), the endpoint, the region."""
    env = {**endpoint.env, "FACEGATE_AWS_PORT": endpoint.url.rsplit(":", 1)[1], "HOME": str(tmp_path)}
    env["PATH"] = f"{os.path.dirname(aws_cli[0])}:{env.get('PATH', '')}"
    env.update(AWS_ACCESS_KEY_ID="AKIAREALKEYWOULDLEAK", AWS_SECRET_ACCESS_KEY="real-secret")  # must be cleared
    script = (
        'set -e; eval "$(python -m core aws-env)"; env | grep ^AWS_ | sort; aws s3 ls; aws rekognition list-collections'
    )
    proc = subprocess.run(
        ["bash", "-c", script.replace("python", sys.executable, 1)],
        env=env, cwd=ROOT, capture_output=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "AWS_PROFILE=facegate-learner" in out and f"AWS_ENDPOINT_URL={endpoint.url}" in out
    assert "AWS_SECRET_ACCESS_KEY" not in out and "AKIAREALKEYWOULDLEAK" not in out
    assert '"CollectionIds"' in out
    credentials = endpoint.settings.data_dir / "aws" / "cli" / "credentials"
    assert credentials.stat().st_mode & 0o077 == 0  # owner-only
    assert not (tmp_path / ".aws").exists()  # the learner's own ~/.aws is untouched
    keys = subprocess.run(
        [sys.executable, "-m", "core", "aws-env", "--keys", "--name", "id001"],
        env=env, cwd=ROOT, capture_output=True, timeout=60, text=True,
    )  # fmt: skip
    assert f"export AWS_ACCESS_KEY_ID={endpoint.device.access_key_id}" in keys.stdout
    assert "secret in your environment" in keys.stderr


def test_aws_credentials_cli_create_list_revoke(endpoint, tmp_path):
    env = dict(endpoint.env)

    def core(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "core", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    made = core("aws-credentials", "create", "--name", "board-01", "--role", "device")
    assert made["AccessKeyId"].startswith("FGAK") and len(made["SecretAccessKey"]) == 40
    listed = {c["access_key_id"]: c for c in core("aws-credentials", "list")}
    assert listed[made["AccessKeyId"]]["state"] == "active" and "secret_access_key" not in listed[made["AccessKeyId"]]
    revoked = core("aws-credentials", "revoke", "board-01")
    assert revoked[0]["state"] == "revoked"
    stored = endpoint.settings.data_dir / "aws" / "credentials.json"
    assert stored.stat().st_mode & 0o077 == 0
