"""The server-side SigV4 check against AWS's published examples and botocore's own signer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from core.awsapi import sigv4

EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_TIME = datetime(2013, 5, 24, tzinfo=UTC)


def _verify(headers: dict, method: str, path: str, query="", body_sha256=None, now=EXAMPLE_TIME, secret=EXAMPLE_SECRET):
    pairs = sigv4.query_pairs(query)
    sig = sigv4.parse(headers.get("Authorization"), {k.lower(): v for k, v in headers.items()}, pairs)
    return sigv4.verify(
        sig,
        secret,
        method=method,
        raw_path=path,
        query=pairs,
        headers=list(headers.items()),
        body_sha256=body_sha256,
        now=now,
    )


def test_aws_published_get_object_example_verifies():
    """AWS's "Example: GET Object" (Signature Calculations for the Authorization Header)."""
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={EXAMPLE_KEY}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    }
    assert _verify(headers, "GET", "/test.txt").payload_hash == sigv4.EMPTY_SHA256
    headers["Range"] = "bytes=0-10"
    with pytest.raises(sigv4.AuthFailure) as failure:
        _verify(headers, "GET", "/test.txt")
    assert failure.value.reason == "signature"


def _aws_chunked_example(corrupt: bool = False) -> tuple[dict, bytes]:
    """AWS's "Transferring payload in multiple chunks" example: 66560 bytes of "a" as chunks of
    65536, 1024 and 0 bytes, with the signatures AWS documents."""
    headers = {
        "Host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "Content-Length": "66824",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={EXAMPLE_KEY}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    }
    body = b""
    for size, signature in (
        (65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
        (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
        (0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    ):
        data = bytearray(b"a" * size)
        if corrupt and size == 1024:
            data[10] = ord("b")
        body += f"{size:x};chunk-signature={signature}\r\n".encode() + bytes(data) + b"\r\n"
    return headers, body


@pytest.mark.parametrize("piece", [1, 7, 4096, 70000])
def test_aws_published_chunked_upload_decodes_and_every_chunk_signature_checks(piece):
    headers, body = _aws_chunked_example()
    assert len(body) == 66824
    verified = _verify(headers, "PUT", "/examplebucket/chunkObject.txt")
    decoder = sigv4.ChunkedDecoder(verified, verified.payload_hash)
    out = b"".join(decoder.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    assert decoder.done and out == b"a" * 66560


def test_a_tampered_chunk_fails_its_signature():
    headers, body = _aws_chunked_example(corrupt=True)
    verified = _verify(headers, "PUT", "/examplebucket/chunkObject.txt")
    decoder = sigv4.ChunkedDecoder(verified, verified.payload_hash)
    with pytest.raises(sigv4.ChunkError) as err:
        decoder.feed(body)
    assert err.value.reason == "signature"


def test_unsigned_trailer_stream_decodes_with_its_checksum_trailer():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    decoder = sigv4.ChunkedDecoder(None, sigv4.STREAMING_UNSIGNED_TRAILER)
    assert decoder.feed(body) == b"hello world"
    assert decoder.done and decoder.trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


def _signed_by_botocore(service: str, method: str, url: str, body: bytes = b"", headers=None, now=None):
    """Sign a request the way botocore does (S3 with its own signer), return what the server sees."""
    creds = Credentials(EXAMPLE_KEY, EXAMPLE_SECRET)
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if service == "s3":
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        S3SigV4Auth(creds, "s3", "ap-northeast-1").add_auth(request)
    else:
        SigV4Auth(creds, service, "ap-northeast-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    sent = dict(prepared.headers.items())
    sent["host"] = parts.netloc
    return sent, parts.path or "/", parts.query


@pytest.mark.parametrize(
    "path",
    [
        "/bucket/plain.jpg",
        "/bucket/a%20b/c%2Bd%3De.txt",
        "/bucket/%E5%86%99%E7%9C%9F/%E7%94%BB%E5%83%8F.jpg",
        "/bucket/dots/./and/../kept",
        "/bucket/tilde~and%21bang%27quote%28paren%29",
    ],
)
def test_s3_paths_verify_as_botocore_signs_them(path):
    sent, raw_path, query = _signed_by_botocore("s3", "PUT", "http://127.0.0.1:8766" + path, b"data")
    verified = sigv4.verify(
        sigv4.parse(sent["Authorization"], {k.lower(): v for k, v in sent.items()}, []),
        EXAMPLE_SECRET,
        method="PUT",
        raw_path=raw_path,
        query=sigv4.query_pairs(query),
        headers=list(sent.items()),
        body_sha256=None,
        now=datetime.now(UTC),
    )
    assert verified.payload_hash == hashlib.sha256(b"data").hexdigest()


@pytest.mark.parametrize(
    ("service", "path", "query"),
    [
        ("iotdata", "/topics/handson%2FauthLogData", "qos=1"),
        ("iotdata", "/topics/%E3%83%86%E3%82%B9%E3%83%88", "qos=0&retain=false"),
        ("rekognition", "/", ""),
        ("s3", "/bucket", "list-type=2&prefix=a%20b%2F&delimiter=%2F&start-after=x%2By"),
        ("s3", "/bucket/key", "uploadId=abc&partNumber=3"),
        ("s3", "/bucket", "uploads"),
    ],
)
def test_other_services_paths_and_queries_verify_as_botocore_signs_them(service, path, query):
    url = "http://127.0.0.1:8766" + path + ("?" + query if query else "")
    sent, raw_path, sent_query = _signed_by_botocore(service, "POST", url, b'{"a": 1}')
    body_sha = None if service == "s3" else hashlib.sha256(b'{"a": 1}').hexdigest()
    sig = sigv4.parse(sent["Authorization"], {k.lower(): v for k, v in sent.items()}, [])
    sigv4.verify(
        sig,
        EXAMPLE_SECRET,
        method="POST",
        raw_path=raw_path,
        query=sigv4.query_pairs(sent_query),
        headers=list(sent.items()),
        body_sha256=body_sha,
        now=datetime.now(UTC),
    )
    with pytest.raises(sigv4.AuthFailure):  # and one changed byte of the body fails
        sigv4.verify(
            sig,
            EXAMPLE_SECRET,
            method="POST",
            raw_path=raw_path,
            query=sigv4.query_pairs(sent_query + "&x=1" if service == "s3" else sent_query),
            headers=list(sent.items()),
            body_sha256=None if service == "s3" else hashlib.sha256(b'{"a": 2}').hexdigest(),
            now=datetime.now(UTC),
        )


def test_clock_skew_beyond_15_minutes_is_refused_within_is_accepted():
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={EXAMPLE_KEY}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    }
    _verify(headers, "GET", "/test.txt", now=EXAMPLE_TIME + timedelta(minutes=14, seconds=59))
    _verify(headers, "GET", "/test.txt", now=EXAMPLE_TIME - timedelta(minutes=14, seconds=59))
    for shift in (timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)):
        with pytest.raises(sigv4.AuthFailure) as failure:
            _verify(headers, "GET", "/test.txt", now=EXAMPLE_TIME + shift)
        assert failure.value.reason == "skewed"


def test_malformed_and_foreign_authorization_headers_are_told_apart():
    with pytest.raises(sigv4.AuthFailure) as failure:
        sigv4.parse("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", {}, [])
    assert failure.value.reason == "unsupported"
    with pytest.raises(sigv4.AuthFailure) as failure:
        sigv4.parse("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request", {"x-amz-date": "x"}, [])
    assert failure.value.reason == "malformed"
    assert sigv4.parse(None, {}, []) is None
