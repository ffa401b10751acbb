"""Requests that must not get in: unsigned, wrongly signed, unknown, revoked or expired keys,
skewed clocks, session tokens, and roles doing what is not theirs — each refused with the
error AWS itself sends, so botocore raises the same exception."""

from __future__ import annotations

import time
from datetime import timedelta

import boto3
import botocore
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from core.awsapi.credentials import CredentialStore


def _client(endpoint, service, key_id, secret, token=None):
    return boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token, region_name="ap-northeast-1"
    ).client(service, endpoint_url=endpoint.url, config=Config(retries={"max_attempts": 1}))


def _calls(endpoint, service, key_id, secret, token=None):
    c = _client(endpoint, service, key_id, secret, token)
    if service == "s3":
        return lambda: c.list_buckets()
    if service == "rekognition":
        return lambda: c.list_collections()
    return lambda: c.publish(topic="handson/sensorLogData", qos=1, payload=b'{"DeviceID":"id001"}')


def _refusal(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as err:
        call()
    r = err.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


EXPECTED = {
    # service: (unknown key, wrong secret)
    "s3": ((403, "InvalidAccessKeyId"), (403, "SignatureDoesNotMatch")),
    "rekognition": ((400, "UnrecognizedClientException"), (400, "InvalidSignatureException")),
    "iot-data": ((403, "ForbiddenException"), (403, "ForbiddenException")),
}


@pytest.mark.parametrize("service", ["s3", "rekognition", "iot-data"])
def test_unknown_keys_and_wrong_secrets(endpoint, service):
    unknown, wrong = EXPECTED[service]
    status, code, _ = _refusal(_calls(endpoint, service, "FGAKAAAAAAAAAAAAAAAA", "x" * 40))
    assert (status, code) == unknown
    status, code, message = _refusal(_calls(endpoint, service, endpoint.admin.access_key_id, "x" * 40))
    assert (status, code) == wrong and "signature" in message.lower()


@pytest.mark.parametrize("service", ["s3", "rekognition", "iot-data"])
def test_revoked_and_expired_keys(endpoint, service):
    store = CredentialStore(endpoint.settings.data_dir)
    revoked = store.create(f"revoked-{service}", "admin")
    call = _calls(endpoint, service, revoked.access_key_id, revoked.secret_access_key)
    if service == "iot-data":
        store.revoke(revoked.access_key_id)
    else:
        call()  # works until revoked
        store.revoke(revoked.access_key_id)
    assert _refusal(call)[:2] == EXPECTED[service][0]  # revoked at once on the running endpoint
    expiring = store.create(f"expiring-{service}", "admin", expires_in_days=1.5 / 86400)
    time.sleep(2)
    status, code, _ = _refusal(_calls(endpoint, service, expiring.access_key_id, expiring.secret_access_key))
    assert (status, code) == {
        "s3": (400, "ExpiredToken"),
        "rekognition": (400, "ExpiredTokenException"),
        "iot-data": (403, "ForbiddenException"),
    }[service]


@pytest.mark.parametrize("service", ["s3", "rekognition", "iot-data"])
def test_a_clock_more_than_15_minutes_off_is_refused(endpoint, service, monkeypatch):
    real_now = botocore.auth.get_current_datetime
    skewed = lambda **kw: real_now(**kw) - timedelta(minutes=16)  # noqa: E731
    monkeypatch.setattr(botocore.auth, "get_current_datetime", skewed)
    if botocore.auth.HAS_CRT:
        from botocore.crt import auth as crt_auth

        monkeypatch.setattr(crt_auth, "get_current_datetime", skewed)
    status, code, message = _refusal(
        _calls(endpoint, service, endpoint.admin.access_key_id, endpoint.admin.secret_access_key)
    )
    assert (status, code) == {
        "s3": (403, "RequestTimeTooSkewed"),
        "rekognition": (400, "InvalidSignatureException"),
        "iot-data": (403, "ForbiddenException"),
    }[service]
    if service != "s3":
        assert message.startswith("Signature expired:")


@pytest.mark.parametrize("service", ["s3", "rekognition"])
def test_session_tokens_are_refused_with_a_hint(endpoint, service):
    status, code, message = _refusal(
        _calls(endpoint, service, endpoint.admin.access_key_id, endpoint.admin.secret_access_key, token="sometoken")
    )
    assert code in ("InvalidToken", "UnrecognizedClientException") and "AWS_SESSION_TOKEN" in message


def test_unsigned_requests_get_each_protocols_refusal(endpoint):
    r = requests.get(endpoint.url + "/", timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    r = requests.post(
        endpoint.url + "/", data="{}", headers={"X-Amz-Target": "RekognitionService.ListCollections"}, timeout=10
    )
    assert r.status_code == 403 and r.json()["__type"] == "MissingAuthenticationTokenException"
    r = requests.post(endpoint.url + "/topics/handson%2FsensorLogData?qos=1", data=b"{}", timeout=10)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"].startswith("ForbiddenException")
    # the course's phone page publishes from a browser: the CORS pre-flight needs no signature
    r = requests.options(endpoint.url + "/topics/handson%2FanalysisLogData", timeout=10)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"


def test_a_tampered_body_fails_the_signature(endpoint, monkeypatch):
    """A proxy changing the bytes after signing: S3 reports the hash mismatch."""
    s3 = endpoint.client("s3")
    s3.create_bucket(Bucket="tamper-test", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})

    def tamper(request, **_):
        import io

        request.body = io.BytesIO(b"EVIL data")  # same length, different bytes

    s3.meta.events.register("before-send.s3.PutObject", tamper)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="tamper-test", Key="a.txt", Body=b"good data")
    assert err.value.response["Error"]["Code"] in ("XAmzContentSHA256Mismatch", "BadDigest")
    assert "Contents" not in endpoint.client("s3").list_objects_v2(Bucket="tamper-test")
    endpoint.client("s3").delete_bucket(Bucket="tamper-test")


def test_a_device_may_upload_search_and_publish_but_not_read_list_delete_or_enrol(endpoint, labelled):
    admin_s3 = endpoint.client("s3")
    photos = endpoint.settings.photos_bucket
    faces_bucket = endpoint.settings.faces_bucket
    for b in (photos, faces_bucket):
        try:
            admin_s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    admin_s3.put_object(Bucket=faces_bucket, Key="people/amy/1.png", Body=labelled["amy"][0].read_bytes())
    s3 = endpoint.client("s3", cred=endpoint.device)
    rk = endpoint.client("rekognition", cred=endpoint.device)
    # allowed: upload a photo (also as multipart), search, detect
    s3.put_object(Bucket=photos, Key="image01_20240101120000.jpg", Body=labelled["amy"][1].read_bytes())
    rk.detect_faces(Image={"S3Object": {"Bucket": photos, "Name": "image01_20240101120000.jpg"}})
    # refused, as AWS refuses what an IAM policy does not allow
    for call in (
        lambda: s3.get_object(Bucket=photos, Key="image01_20240101120000.jpg"),
        lambda: s3.list_objects_v2(Bucket=photos),
        lambda: s3.list_buckets(),
        lambda: s3.delete_object(Bucket=photos, Key="image01_20240101120000.jpg"),
        lambda: s3.put_object(Bucket=faces_bucket, Key="people/mallory/1.png", Body=b"x"),
        lambda: s3.get_object(Bucket=faces_bucket, Key="people/amy/1.png"),
        lambda: s3.create_bucket(
            Bucket="device-bucket", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        ),
    ):
        status, code, _ = _refusal(call)
        assert (status, code) == (403, "AccessDenied")
    for call in (
        lambda: rk.create_collection(CollectionId="mine"),
        lambda: rk.delete_collection(CollectionId=endpoint.settings.collection),
        lambda: rk.index_faces(CollectionId=endpoint.settings.collection, Image={"Bytes": b"x"}),
        lambda: rk.list_faces(CollectionId=endpoint.settings.collection),
        # the biometric bucket is the admin's alone, for analysing too
        lambda: rk.detect_faces(Image={"S3Object": {"Bucket": faces_bucket, "Name": "people/amy/1.png"}}),
    ):
        with pytest.raises(rk.exceptions.AccessDeniedException):
            call()
    # and the admin may read the faces bucket
    assert endpoint.client("s3").get_object(Bucket=faces_bucket, Key="people/amy/1.png")["ContentLength"] > 0


def test_signature_version_2_is_refused_with_a_pointer_to_v4(endpoint):
    s3 = _client(endpoint, "s3", endpoint.admin.access_key_id, endpoint.admin.secret_access_key)
    s3 = boto3.session.Session(
        aws_access_key_id=endpoint.admin.access_key_id,
        aws_secret_access_key=endpoint.admin.secret_access_key,
        region_name="ap-northeast-1",
    ).client("s3", endpoint_url=endpoint.url, config=Config(signature_version="s3", retries={"max_attempts": 1}))
    status, code, message = _refusal(lambda: s3.list_buckets())
    assert (status, code) == (400, "InvalidRequest") and "AWS4-HMAC-SHA256" in message


def test_what_the_shared_server_refuses_is_answered_in_the_clients_protocol(endpoint):
    """Too many header lines (the project's server limit, before the endpoint runs): S3's XML
    for an S3 path, Rekognition's JSON for an X-Amz-Target request."""
    crowd = {f"x-filler-{i}": "1" for i in range(150)}
    r = requests.get(endpoint.url + "/some-bucket/key", headers=crowd, timeout=10)
    assert r.status_code == 400 and b"<Code>RequestHeaderSectionTooLarge</Code>" in r.content
    r = requests.post(
        endpoint.url + "/",
        data="{}",
        headers={**crowd, "X-Amz-Target": "RekognitionService.ListCollections"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["__type"] == "InvalidParameterException"
