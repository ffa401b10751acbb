"""S3 over the endpoint with boto3: every operation, S3's errors, the app's object store."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime, timedelta

import boto3
import botocore
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from .conftest import validate_output


@pytest.fixture
def bucket(endpoint, request):
    s3 = endpoint.client("s3")
    name = "t-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_buckets_create_head_list_location_delete(endpoint):
    s3 = endpoint.client("s3")
    out = s3.create_bucket(
        Bucket="lifecycle-test-bucket",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"},
    )
    validate_output("s3", "CreateBucket", out)
    with pytest.raises(ClientError) as err:
        s3.create_bucket(
            Bucket="lifecycle-test-bucket",
            CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"},
        )
    assert (
        _code(err.value) == "BucketAlreadyOwnedByYou"
        and err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    )
    head = s3.head_bucket(Bucket="lifecycle-test-bucket")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "ap-northeast-1"
    listed = s3.list_buckets()
    validate_output("s3", "ListBuckets", listed)
    assert "lifecycle-test-bucket" in [b["Name"] for b in listed["Buckets"]]
    assert s3.get_bucket_location(Bucket="lifecycle-test-bucket")["LocationConstraint"] == "ap-northeast-1"
    s3.put_object(Bucket="lifecycle-test-bucket", Key="x.txt", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket="lifecycle-test-bucket")
    assert _code(err.value) == "BucketNotEmpty"
    s3.delete_object(Bucket="lifecycle-test-bucket", Key="x.txt")
    s3.delete_bucket(Bucket="lifecycle-test-bucket")
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket="lifecycle-test-bucket")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert _code(err.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="Bad_Name", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    assert _code(err.value) == "InvalidBucketName"


def test_put_get_head_delete_with_metadata_and_the_app_sees_the_same_file(endpoint, bucket):
    s3 = endpoint.client("s3")
    body = os.urandom(100_000)
    put = s3.put_object(
        Bucket=bucket, Key="photos/写真 1.jpg", Body=body, ContentType="image/jpeg", Metadata={"who": "taro"}
    )
    validate_output("s3", "PutObject", put)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="photos/写真 1.jpg")
    validate_output("s3", "GetObject", {k: v for k, v in got.items() if k != "Body"})
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/jpeg" and got["Metadata"] == {"who": "taro"}
    head = s3.head_object(Bucket=bucket, Key="photos/写真 1.jpg")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    # the very file the app reads, through the object store port
    assert endpoint.services.objects.get_object(bucket, "photos/写真 1.jpg") == body
    # and what the app writes, S3 reads (ETag computed, Content-Type from the extension)
    app_bytes = b"\x89PNG-not-really"
    endpoint.services.objects.put_object(bucket, "app/cap.png", app_bytes)
    head = s3.head_object(Bucket=bucket, Key="app/cap.png")
    assert head["ETag"] == f'"{hashlib.md5(app_bytes).hexdigest()}"' and head["ContentType"] == "image/png"
    s3.delete_object(Bucket=bucket, Key="photos/写真 1.jpg")
    s3.delete_object(Bucket=bucket, Key="photos/写真 1.jpg")  # absent: still 204, as in S3
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="photos/写真 1.jpg")
    assert _code(err.value) == "NoSuchKey" and err.value.response["Error"]["Key"] == "photos/写真 1.jpg"
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="photos/写真 1.jpg")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_ranges_and_conditional_gets(endpoint, bucket):
    s3 = endpoint.client("s3")
    body = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=bucket, Key="r.bin", Body=body)["ETag"]
    part = s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=100-199")
    assert part["Body"].read() == body[100:200] and part["ContentRange"] == f"bytes 100-199/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=-10")["Body"].read() == body[-10:]
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=10000-")["Body"].read() == body[10000:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r.bin", Range=f"bytes={len(body)}-")
    assert _code(err.value) == "InvalidRange" and err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r.bin", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r.bin", IfMatch='"0000"')
    assert _code(err.value) == "PreconditionFailed"
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r.bin", IfModifiedSince=later)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304


def test_list_objects_v2_prefix_delimiter_pages_and_v1(endpoint, bucket):
    s3 = endpoint.client("s3")
    keys = [f"2024/0{m}/img{i:02d}.jpg" for m in (1, 2) for i in range(7)] + ["top.txt", "2024/readme"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}))
    for page in pages:
        validate_output("s3", "ListObjectsV2", page)
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)
    assert len(pages) == 4
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["2024/"] and [o["Key"] for o in top["Contents"]] == [
        "top.txt"
    ]
    months = s3.list_objects_v2(Bucket=bucket, Prefix="2024/", Delimiter="/")
    assert [p["Prefix"] for p in months["CommonPrefixes"]] == ["2024/01/", "2024/02/"]
    assert [o["Key"] for o in months["Contents"]] == ["2024/readme"]
    paged = s3.list_objects_v2(Bucket=bucket, Prefix="2024/", Delimiter="/", MaxKeys=1)
    assert paged["IsTruncated"] and paged["KeyCount"] == 1
    rest = s3.list_objects_v2(
        Bucket=bucket, Prefix="2024/", Delimiter="/", ContinuationToken=paged["NextContinuationToken"]
    )
    assert [p["Prefix"] for p in paged.get("CommonPrefixes", []) + rest.get("CommonPrefixes", [])] == [
        "2024/01/",
        "2024/02/",
    ]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="2024/02/img05.jpg")
    assert [o["Key"] for o in after["Contents"]] == ["2024/02/img06.jpg", "2024/readme", "top.txt"]
    v1 = list(boto3.session.Session().resource  # noqa: E131 - boto3's resource API lists with ListObjects (v1)
        ("s3", endpoint_url=endpoint.url, region_name="ap-northeast-1",
         aws_access_key_id=endpoint.admin.access_key_id, aws_secret_access_key=endpoint.admin.secret_access_key)
        .Bucket(bucket).objects.page_size(5))  # fmt: skip
    assert [o.key for o in v1] == sorted(keys)
    encoded = s3.list_objects_v2(Bucket=bucket, Prefix="top", EncodingType="url")
    assert [o["Key"] for o in encoded["Contents"]] == ["top.txt"]


def test_copy_object_and_delete_objects(endpoint, bucket):
    s3 = endpoint.client("s3")
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"abc", ContentType="image/jpeg", Metadata={"k": "v"})
    out = s3.copy_object(Bucket=bucket, Key="b.jpg", CopySource={"Bucket": bucket, "Key": "a.jpg"})
    validate_output("s3", "CopyObject", out)
    assert s3.get_object(Bucket=bucket, Key="b.jpg")["Metadata"] == {"k": "v"}
    s3.copy_object(
        Bucket=bucket, Key="c.jpg", CopySource=f"{bucket}/a.jpg", MetadataDirective="REPLACE", Metadata={"n": "1"}
    )
    assert s3.head_object(Bucket=bucket, Key="c.jpg")["Metadata"] == {"n": "1"}
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="d.jpg", CopySource=f"{bucket}/nothing.jpg")
    assert _code(err.value) == "NoSuchKey"
    deleted = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a.jpg"}, {"Key": "b.jpg"}, {"Key": "never.jpg"}]}
    )
    validate_output("s3", "DeleteObjects", deleted)
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["a.jpg", "b.jpg", "never.jpg"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c.jpg"]


def test_upload_file_of_a_large_file_goes_multipart_and_arrives_whole(endpoint, bucket, tmp_path):
    """``upload_file`` (the course's step 1 script) switches to multipart above 8 MB."""
    s3 = endpoint.client("s3")
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(9 * 1024 * 1024 + 123))
    s3.upload_file(str(path), bucket, "big.bin")  # 8 MB parts: two parts, the second small
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-2"') and head["ContentLength"] == path.stat().st_size
    assert (
        hashlib.sha256(endpoint.services.objects.get_object(bucket, "big.bin")).digest()
        == hashlib.sha256(path.read_bytes()).digest()
    )
    down = tmp_path / "down.bin"
    s3.download_file(bucket, "big.bin", str(down), Config=TransferConfig(multipart_chunksize=3 * 1024 * 1024))
    assert down.read_bytes() == path.read_bytes()  # ranged GETs put it back together


def test_multipart_by_hand_lists_parts_refuses_bad_completions_and_aborts(endpoint, bucket):
    s3 = endpoint.client("s3")
    up = s3.create_multipart_upload(Bucket=bucket, Key="m.bin", ContentType="application/x-test")
    validate_output("s3", "CreateMultipartUpload", up)
    uid = up["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="m.bin", UploadId=uid, PartNumber=1, Body=b"a" * (5 * 1024 * 1024))
    p2 = s3.upload_part(Bucket=bucket, Key="m.bin", UploadId=uid, PartNumber=2, Body=b"tail")
    validate_output("s3", "UploadPart", p1)
    parts = s3.list_parts(Bucket=bucket, Key="m.bin", UploadId=uid)
    validate_output("s3", "ListParts", parts)
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * 1024 * 1024), (2, 4)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="m.bin", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"deadbeef"'}, {"PartNumber": 2, "ETag": p2["ETag"]}]},
        )  # fmt: skip
    assert _code(err.value) == "InvalidPart"
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="m.bin", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2["ETag"]}, {"PartNumber": 1, "ETag": p1["ETag"]}]},
        )  # fmt: skip
    assert _code(err.value) == "InvalidPartOrder"
    small = s3.create_multipart_upload(Bucket=bucket, Key="s.bin")["UploadId"]
    q1 = s3.upload_part(Bucket=bucket, Key="s.bin", UploadId=small, PartNumber=1, Body=b"too small")
    q2 = s3.upload_part(Bucket=bucket, Key="s.bin", UploadId=small, PartNumber=2, Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="s.bin", UploadId=small,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": q1["ETag"]}, {"PartNumber": 2, "ETag": q2["ETag"]}]},
        )  # fmt: skip
    assert _code(err.value) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="s.bin", UploadId=small)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]},
    )  # fmt: skip
    validate_output("s3", "CompleteMultipartUpload", done)
    md5s = hashlib.md5(bytes.fromhex(p1["ETag"].strip('"')) + bytes.fromhex(p2["ETag"].strip('"'))).hexdigest()
    assert done["ETag"] == f'"{md5s}-2"'
    assert s3.head_object(Bucket=bucket, Key="m.bin")["ContentType"] == "application/x-test"
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="m.bin", UploadId=uid, PartNumber=3, Body=b"late")
    assert _code(err.value) == "NoSuchUpload"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_checksums_are_checked_and_returned(endpoint, bucket):
    s3 = endpoint.client("s3")
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        out = s3.put_object(Bucket=bucket, Key=f"c-{algorithm}", Body=b"hello world", ChecksumAlgorithm=algorithm)
        value = out[f"Checksum{algorithm}"]
        got = s3.get_object(Bucket=bucket, Key=f"c-{algorithm}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"hello world" and got[f"Checksum{algorithm}"] == value
    with pytest.raises(ClientError) as err:  # a checksum that does not match the body
        s3.put_object(Bucket=bucket, Key="bad", Body=b"hello world", ChecksumCRC32="AAAAAA==")
    assert _code(err.value) == "BadDigest"
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"hello", ContentMD5="XrY7u+Ae7tCTyyK7j1rNww==")  # "hello world"
    assert _code(err.value) == "BadDigest"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="bad")  # nothing half-stored


def _tls_certificate(tmp_path):
    from core.app.lan import ensure_certificate

    return ensure_certificate(tmp_path)


def test_https_uploads_arrive_aws_chunked_with_checksum_trailers(endpoint, bucket, tmp_path):
    """Over HTTPS botocore does not sign the payload: it streams ``aws-chunked`` with a CRC
    trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER), for PutObject and for each UploadPart."""
    from core.awsapi.server import ServerThread

    cert, key = _tls_certificate(tmp_path)
    tls = ServerThread(endpoint.app, tls=(cert, key))
    try:
        s3 = boto3.session.Session(
            aws_access_key_id=endpoint.admin.access_key_id,
            aws_secret_access_key=endpoint.admin.secret_access_key,
            region_name="ap-northeast-1",
        ).client("s3", endpoint_url=tls.url, verify=str(cert))
        seen = []
        s3.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(dict(request.headers)))
        body = os.urandom(300_000)
        s3.put_object(Bucket=bucket, Key="tls.bin", Body=body)
        assert seen[-1].get("x-amz-content-sha256") == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        assert endpoint.services.objects.get_object(bucket, "tls.bin") == body
        path = tmp_path / "big.bin"
        path.write_bytes(os.urandom(9 * 1024 * 1024))
        s3.upload_file(str(path), bucket, "tls-big.bin")
        assert endpoint.services.objects.get_object(bucket, "tls-big.bin") == path.read_bytes()
    finally:
        tls.stop()


def test_virtual_host_style_addresses_the_bucket_in_the_host_name(endpoint, bucket, monkeypatch):
    """``<bucket>.localhost`` (RFC 6761 names resolve to loopback in browsers and systemd; here
    the test resolves them the same way)."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kw):
        return real("127.0.0.1" if str(host).endswith(".localhost") else host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = endpoint.url.rsplit(":", 1)[1]
    s3 = endpoint.client("s3", s3={"addressing_style": "virtual"})
    s3 = boto3.session.Session(
        aws_access_key_id=endpoint.admin.access_key_id,
        aws_secret_access_key=endpoint.admin.secret_access_key,
        region_name="ap-northeast-1",
    ).client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        config=botocore.config.Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    hosts = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: hosts.append(request.url))
    s3.put_object(Bucket=bucket, Key="v/h.txt", Body=b"virtual")
    assert hosts[-1].startswith(f"http://{bucket}.localhost:{port}/v/h.txt")
    assert s3.get_object(Bucket=bucket, Key="v/h.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["v/h.txt"]


def test_presigned_get_url_works_until_it_expires(endpoint, bucket, monkeypatch):
    s3 = endpoint.client("s3", signature_version="s3v4")  # aws-env's profile says so too
    s3.put_object(Bucket=bucket, Key="share.txt", Body=b"shared")
    legacy = endpoint.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "share.txt"})
    assert "AWSAccessKeyId=" in legacy  # botocore's default presigner still signs with SigV2
    refused = requests.get(legacy, timeout=10)
    assert refused.status_code == 400 and b"<Code>InvalidRequest</Code>" in refused.content
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "share.txt"}, ExpiresIn=60)
    reply = requests.get(url, timeout=10)
    assert reply.status_code == 200 and reply.content == b"shared"
    tampered = url.replace("share.txt", "shore.txt")
    assert requests.get(tampered, timeout=10).status_code == 403
    real_now = botocore.auth.get_current_datetime
    two_minutes_ago = lambda **kw: real_now(**kw) - timedelta(minutes=2)  # noqa: E731
    monkeypatch.setattr(botocore.auth, "get_current_datetime", two_minutes_ago)
    if botocore.auth.HAS_CRT:  # with awscrt installed botocore signs S3 with the CRT signer
        from botocore.crt import auth as crt_auth

        monkeypatch.setattr(crt_auth, "get_current_datetime", two_minutes_ago)
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "share.txt"}, ExpiresIn=60)
    reply = requests.get(expired, timeout=10)
    assert reply.status_code == 403 and b"<Message>Request has expired</Message>" in reply.content


def test_keys_a_file_system_cannot_hold_are_refused_not_aliased(endpoint, bucket):
    s3 = endpoint.client("s3")
    s3.put_object(Bucket=bucket, Key="a", Body=b"file")
    for key in ("a/b", "x//y", "dir/", "../up", "./here"):
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket=bucket, Key=key, Body=b"no")
        assert _code(err.value) == "InvalidArgument", key
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"file"


def test_unimplemented_features_say_so(endpoint, bucket):
    s3 = endpoint.client("s3")
    with pytest.raises(ClientError) as err:
        s3.get_bucket_acl(Bucket=bucket)
    assert _code(err.value) == "NotImplemented" and err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def _signed_s3(endpoint, method: str, path: str, body: bytes, headers: dict | None = None) -> requests.Response:
    """A request signed as botocore signs S3, with a body of our choosing (hostile input)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=endpoint.url + path, data=body, headers=dict(headers or {}))
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(
        Credentials(endpoint.admin.access_key_id, endpoint.admin.secret_access_key), "s3", "ap-northeast-1"
    ).add_auth(req)
    prepared = req.prepare()
    return requests.request(method, prepared.url, data=body, headers=dict(prepared.headers), timeout=30)


def test_hostile_xml_and_paths_are_refused_without_harm(endpoint, bucket):
    import base64

    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>"
    )
    md5 = base64.b64encode(hashlib.md5(bomb).digest()).decode()
    r = _signed_s3(endpoint, "POST", f"/{bucket}?delete", bomb, {"Content-MD5": md5})
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content
    r = _signed_s3(endpoint, "POST", f"/{bucket}?delete", b"<Delete><Object><Key>x", {"Content-MD5": md5})
    assert r.status_code == 400
    for path in (f"/{bucket}/..%2F..%2Fcredentials.json", f"/{bucket}/a%00b", "/..%2Faws/x"):
        r = _signed_s3(endpoint, "GET", path, b"")
        assert r.status_code in (400, 404) and b"<Error>" in r.content, (path, r.status_code, r.content[:200])
    assert "credentials" not in r.text
