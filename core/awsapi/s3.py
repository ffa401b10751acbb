"""Amazon S3's REST protocol (path-style and virtual-host style) on the local object store.

Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
ListObjects (v1 and v2: prefix, delimiter, max-keys, marker / continuation-token,
start-after, encoding-type=url), PutObject, GetObject (Range, conditional headers,
``response-*`` overrides), HeadObject, DeleteObject, DeleteObjects, CopyObject,
CreateMultipartUpload, UploadPart, ListParts, ListMultipartUploads, CompleteMultipartUpload,
AbortMultipartUpload. Bodies may be aws-chunked (signed or unsigned, with checksum
trailers); checksums and Content-MD5 are verified. Other S3 features (ACLs, policies,
versioning, tagging, ...) answer 501 NotImplemented. Who may do what: ``core.awsapi.policy``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from core.awsapi import policy
from core.awsapi.errors import AwsError
from core.awsapi.http import AwsRequest, BodyReader, read_all
from core.awsapi.s3store import DEFAULT_CONTENT_TYPE, MAX_PARTS, ObjectMeta, S3Store, check_object_key

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_OBJECT_BYTES = 5 * 1024**3  # S3's limit for one PUT and for one part
MAX_XML_BYTES = 2 * 1024 * 1024
OWNER_ID = "facegate"
_SUBRESOURCES = {
    "accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
    "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls", "policy",
    "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
    "tagging", "torrent", "versioning", "versions", "website",
}  # fmt: skip
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _http_date(t: datetime) -> str:
    return format_datetime(t.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _el(parent: ET.Element, tag: str, text=None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = str(text).lower() if isinstance(text, bool) else str(text)
    return e


def error_response(err: AwsError, req: AwsRequest | None) -> Response:
    """S3's XML error (no body for HEAD, as S3 does)."""
    headers = {"x-amz-request-id": req.request_id if req else "", "x-amz-id-2": "facegate"}
    if err.status == 304 or (req is not None and req.method == "HEAD"):
        return Response(status_code=err.status, headers=headers)
    root = ET.Element("Error")
    _el(root, "Code", err.code)
    _el(root, "Message", err.message)
    for name, value in err.extra.items():
        _el(root, name, value)
    _el(root, "RequestId", req.request_id if req else "")
    _el(root, "HostId", "facegate")
    return Response(_xml(root), status_code=err.status, media_type="application/xml", headers=headers)


def _ok(req: AwsRequest, body: bytes | None = None, status: int = 200, headers: dict | None = None) -> Response:
    h = {"x-amz-request-id": req.request_id, "x-amz-id-2": "facegate", **(headers or {})}
    if body is None:
        return Response(status_code=status, headers=h)
    return Response(body, status_code=status, media_type="application/xml", headers=h)


def _denied() -> AwsError:
    return AwsError("AccessDenied", "Access Denied", 403)


def _not_implemented(what: str) -> AwsError:
    return AwsError("NotImplemented", f"FaceGate's local S3 does not implement {what}.", 501)


def target(req: AwsRequest) -> tuple[str | None, str | None]:
    """(bucket, key) from a virtual-host (``<bucket>.localhost``) or path-style request."""
    host = (
        (req.header("host") or "").rsplit(":", 1)[0].lower() if not (req.header("host") or "").startswith("[") else ""
    )
    path = req.raw_path
    if host.endswith(".localhost"):
        bucket = host[: -len(".localhost")]
        key = unquote(path[1:]) if len(path) > 1 else None
        return bucket, key
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return None, None
    bucket = unquote(parts[0])
    key = unquote(parts[1]) if len(parts) > 1 and parts[1] != "" else None
    return bucket, key


class S3Api:
    def __init__(self, store: S3Store, settings):
        self.store = store
        self.settings = settings

    async def handle(self, req: AwsRequest) -> Response:
        bucket, key = target(req)
        m = req.method
        sub = next((k for k, _ in req.query if k in _SUBRESOURCES), None)
        if bucket is None:
            if m == "GET":
                return await self.list_buckets(req)
            raise AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        if sub:
            raise _not_implemented(f"the '{sub}' subresource")
        if key is None:
            if m == "PUT":
                return await self.create_bucket(req, bucket)
            if m == "HEAD":
                return await self.head_bucket(req, bucket)
            if m == "DELETE":
                return await self.delete_bucket(req, bucket)
            if m == "GET":
                if req.has_arg("location"):
                    return await self.bucket_location(req, bucket)
                if req.has_arg("uploads"):
                    return await self.list_uploads(req, bucket)
                return await self.list_objects(req, bucket, v2=req.arg("list-type") == "2")
            if m == "POST" and req.has_arg("delete"):
                return await self.delete_objects(req, bucket)
            raise AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        if m == "PUT":
            if req.has_arg("uploadId") or req.has_arg("partNumber"):
                if req.header("x-amz-copy-source"):
                    raise _not_implemented("UploadPartCopy")
                return await self.upload_part(req, bucket, key)
            if req.header("x-amz-copy-source"):
                return await self.copy_object(req, bucket, key)
            return await self.put_object(req, bucket, key)
        if m in ("GET", "HEAD"):
            if req.has_arg("uploadId") and m == "GET":
                return await self.list_parts(req, bucket, key)
            return await self.get_object(req, bucket, key, head=m == "HEAD")
        if m == "DELETE":
            if req.has_arg("uploadId"):
                return await self.abort_upload(req, bucket, key)
            return await self.delete_object(req, bucket, key)
        if m == "POST":
            if req.has_arg("uploads"):
                return await self.create_upload(req, bucket, key)
            if req.has_arg("uploadId"):
                return await self.complete_upload(req, bucket, key)
        raise AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)

    # --- permissions ---------------------------------------------------------------------
    def _may_read(self, req: AwsRequest) -> None:
        if not policy.may_read_objects(req.role):
            raise _denied()

    def _may_write(self, req: AwsRequest, bucket: str) -> None:
        if not policy.may_write_object(req.role, bucket, self.settings):
            raise _denied()

    def _may_manage(self, req: AwsRequest) -> None:
        if not policy.may_manage_buckets(req.role):
            raise _denied()

    # --- service and buckets ---------------------------------------------------------------
    async def list_buckets(self, req):
        self._may_manage(req)
        root = ET.Element("ListAllMyBucketsResult", xmlns=NS)
        owner = _el(root, "Owner")
        _el(owner, "ID", OWNER_ID)
        _el(owner, "DisplayName", OWNER_ID)
        buckets = _el(root, "Buckets")
        for name, created in await run_in_threadpool(self.store.list_buckets):
            b = _el(buckets, "Bucket")
            _el(b, "Name", name)
            _el(b, "CreationDate", _iso(created))
        return _ok(req, _xml(root))

    async def create_bucket(self, req, bucket):
        self._may_manage(req)
        await read_all(req, 64 * 1024, AwsError("MalformedXML", "The XML you provided was not well-formed", 400))
        if not await run_in_threadpool(self.store.create_bucket, bucket):
            if self.settings.region == "us-east-1":
                return _ok(req, headers={"Location": f"/{bucket}"})
            raise AwsError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
                409,
                BucketName=bucket,
            )
        return _ok(req, headers={"Location": f"/{bucket}"})

    async def head_bucket(self, req, bucket):
        self._may_manage(req)
        await run_in_threadpool(self.store.require_bucket, bucket)
        return _ok(req, headers={"x-amz-bucket-region": self.settings.region, "x-amz-access-point-alias": "false"})

    async def delete_bucket(self, req, bucket):
        self._may_manage(req)
        await run_in_threadpool(self.store.delete_bucket, bucket)
        return _ok(req, status=204)

    async def bucket_location(self, req, bucket):
        self._may_manage(req)
        await run_in_threadpool(self.store.require_bucket, bucket)
        root = ET.Element("LocationConstraint", xmlns=NS)
        if self.settings.region != "us-east-1":
            root.text = self.settings.region
        return _ok(req, _xml(root))

    # --- listings ------------------------------------------------------------------------
    async def list_objects(self, req, bucket, v2: bool):
        self._may_read(req)
        prefix = req.arg("prefix", "") or ""
        delimiter = req.arg("delimiter", "") or ""
        encoding = req.arg("encoding-type")
        if encoding not in (None, "url"):
            raise AwsError(
                "InvalidArgument", "Invalid Encoding Method specified in Request", 400, ArgumentName="encoding-type"
            )
        try:
            max_keys = int(req.arg("max-keys", "1000") or "1000")
        except ValueError:
            raise AwsError("InvalidArgument", "Provided max-keys not an integer or within integer range", 400) from None
        if max_keys < 0:
            raise AwsError("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647", 400)
        max_keys = min(max_keys, 1000)
        if v2:
            token = req.arg("continuation-token")
            start_after = req.arg("start-after", "") or ""
            after = _token_key(token) if token else start_after
        else:
            after = req.arg("marker", "") or ""
        objects = await run_in_threadpool(self.store.list, bucket, prefix)
        contents: list = []
        prefixes: list[str] = []
        truncated, last = False, ""
        seen_prefixes = set()
        for obj in objects:
            if obj.key <= after:
                continue
            rest = obj.key[len(prefix) :]
            if delimiter and delimiter in rest:
                cp = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if cp in seen_prefixes or cp <= after:
                    continue
                if len(contents) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                seen_prefixes.add(cp)
                prefixes.append(cp)
                last = cp
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append(obj)
            last = obj.key
        metas = await run_in_threadpool(lambda: [self._meta_or_none(bucket, o.key) for o in contents])
        enc = (lambda s: quote(s, safe="/")) if encoding == "url" else (lambda s: s)
        root = ET.Element("ListBucketResult", xmlns=NS)
        _el(root, "Name", bucket)
        _el(root, "Prefix", enc(prefix))
        if v2:
            if req.arg("continuation-token"):
                _el(root, "ContinuationToken", req.arg("continuation-token"))
            if req.arg("start-after"):
                _el(root, "StartAfter", enc(req.arg("start-after")))
            _el(root, "KeyCount", len(contents) + len(prefixes))
        else:
            _el(root, "Marker", enc(req.arg("marker", "") or ""))
        _el(root, "MaxKeys", max_keys)
        if delimiter:
            _el(root, "Delimiter", enc(delimiter))
        if encoding:
            _el(root, "EncodingType", encoding)
        _el(root, "IsTruncated", truncated)
        if truncated:
            if v2:
                _el(root, "NextContinuationToken", _make_token(last))
            elif delimiter:
                _el(root, "NextMarker", enc(last))
        fetch_owner = not v2 or req.arg("fetch-owner") == "true"
        for obj, meta in zip(contents, metas, strict=True):
            if meta is None:
                continue  # deleted while listing
            c = _el(root, "Contents")
            _el(c, "Key", enc(obj.key))
            _el(c, "LastModified", _iso(meta.modified))
            _el(c, "ETag", meta.etag)
            _el(c, "Size", meta.size)
            _el(c, "StorageClass", "STANDARD")
            if fetch_owner:
                o = _el(c, "Owner")
                _el(o, "ID", OWNER_ID)
                _el(o, "DisplayName", OWNER_ID)
        for cp in prefixes:
            _el(_el(root, "CommonPrefixes"), "Prefix", enc(cp))
        return _ok(req, _xml(root))

    def _meta_or_none(self, bucket, key) -> ObjectMeta | None:
        try:
            return self.store.head(bucket, key)
        except AwsError:
            return None

    # --- objects -------------------------------------------------------------------------
    def _user_metadata(self, req) -> dict:
        meta = {k.lower(): v for k, v in req.headers if k.lower().startswith("x-amz-meta-")}
        for name in _STORED_HEADERS:
            if req.header(name) is not None and name != "content-encoding":
                meta[name] = req.header(name)
        if sum(len(k) + len(v) for k, v in meta.items()) > 2048:
            raise AwsError("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", 400)
        return meta

    async def _receive(self, req, bucket, key, limit=MAX_OBJECT_BYTES, part_of: str | None = None):
        """Stream the body into a temp file; returns (temp path, BodyReader)."""
        reader = BodyReader(req, limit)
        if reader.declared is not None:
            _check_disk(self.store.root, reader.declared)
        if part_of:
            fh, tmp = await run_in_threadpool(self.store.part_temp, part_of)
        else:
            fh, tmp = await run_in_threadpool(self.store.new_temp, bucket, key)
        try:
            with fh:
                async for data in reader.chunks():
                    fh.write(data)
                fh.flush()
                await run_in_threadpool(os.fsync, fh.fileno())
        except BaseException:
            self.store.discard(tmp)
            raise
        return tmp, reader

    async def put_object(self, req, bucket, key):
        check_object_key(key)
        self._may_write(req, bucket)
        await run_in_threadpool(self.store.require_bucket, bucket)
        metadata = self._user_metadata(req)
        ctype = req.header("content-type") or DEFAULT_CONTENT_TYPE
        tmp, reader = await self._receive(req, bucket, key)
        meta = await run_in_threadpool(
            lambda: self.store.commit(
                bucket,
                key,
                tmp,
                etag=f'"{reader.md5}"',
                content_type=ctype,
                metadata=metadata,
                checksum=reader.checksum,
            )
        )
        headers = {"ETag": meta.etag}
        for algorithm, value in reader.checksum.items():
            headers[f"x-amz-checksum-{algorithm.lower()}"] = value
        return _ok(req, headers=headers)

    async def get_object(self, req, bucket, key, head: bool):
        self._may_read(req)
        meta = await run_in_threadpool(self.store.head, bucket, key)
        path = self.store.object_path(bucket, key)
        _check_conditions(req, meta)
        headers = {
            "ETag": meta.etag,
            "Last-Modified": _http_date(meta.modified),
            "Accept-Ranges": "bytes",
            "Content-Type": meta.content_type,
        }
        for name, value in meta.metadata.items():
            headers[name] = value
        if (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED":
            for algorithm, value in meta.checksum.items():
                headers[f"x-amz-checksum-{algorithm.lower()}"] = value
                headers["x-amz-checksum-type"] = "FULL_OBJECT"
        for arg, header in _RESPONSE_OVERRIDES.items():
            if req.arg(arg) is not None:
                headers[header] = req.arg(arg)
        start, end, status = 0, meta.size - 1, 200
        rng = req.header("range")
        if rng and not req.arg("partNumber"):
            parsed = _parse_range(rng, meta.size)
            if parsed is not None:
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{meta.size}"
                headers.pop("x-amz-checksum-type", None)  # a part's checksum is not the object's
                for algorithm in meta.checksum:
                    headers.pop(f"x-amz-checksum-{algorithm.lower()}", None)
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        headers["x-amz-request-id"] = req.request_id
        if head:
            return Response(status_code=status, headers=headers)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except (FileNotFoundError, IsADirectoryError):
            raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key) from None

        def body():
            with fh:
                fh.seek(start)
                left = length
                while left > 0:
                    chunk = fh.read(min(256 * 1024, left))
                    if not chunk:
                        break  # truncated meanwhile; the client sees a short body
                    left -= len(chunk)
                    yield chunk

        return StreamingResponse(body(), status_code=status, headers=headers)

    async def delete_object(self, req, bucket, key):
        if not policy.may_delete_objects(req.role):
            raise _denied()
        await run_in_threadpool(self.store.delete, bucket, key)
        return _ok(req, status=204)

    async def delete_objects(self, req, bucket):
        if not policy.may_delete_objects(req.role):
            raise _denied()
        body = await read_all(req, MAX_XML_BYTES, _malformed())
        if not req.header("content-md5") and not any(k.lower().startswith("x-amz-checksum-") for k, _ in req.headers):
            raise AwsError("InvalidRequest", "Missing required header for this request: Content-MD5", 400)
        root = _parse_xml(body)
        quiet = (_text(root, "Quiet") or "").lower() == "true"
        found = [_text(o, "Key") for o in root if _local(o.tag) == "Object"]
        keys = [k for k in found if k is not None]
        if len(found) > 1000 or len(keys) != len(found):
            raise _malformed()
        result = ET.Element("DeleteResult", xmlns=NS)
        await run_in_threadpool(self.store.require_bucket, bucket)
        for key in keys:
            try:
                await run_in_threadpool(self.store.delete, bucket, key)
                if not quiet:
                    _el(_el(result, "Deleted"), "Key", key)
            except AwsError as exc:
                e = _el(result, "Error")
                _el(e, "Key", key)
                _el(e, "Code", exc.code)
                _el(e, "Message", exc.message)
        return _ok(req, _xml(result))

    async def copy_object(self, req, bucket, key):
        check_object_key(key)
        self._may_read(req)
        self._may_write(req, bucket)
        source = unquote(req.header("x-amz-copy-source") or "").split("?", 1)[0].lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        if not src_bucket or not src_key:
            raise AwsError(
                "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", 400
            )
        src = await run_in_threadpool(self.store.head, src_bucket, src_key)
        _check_copy_conditions(req, src)
        directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise AwsError("InvalidArgument", "Unknown metadata directive.", 400)
        if (src_bucket, src_key) == (bucket, key) and directive == "COPY":
            raise AwsError(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without changing the "
                "object's metadata, storage class, website redirect location or encryption attributes.",
                400,
            )
        if directive == "REPLACE":
            metadata, ctype = self._user_metadata(req), req.header("content-type") or DEFAULT_CONTENT_TYPE
        else:
            metadata, ctype = src.metadata, src.content_type
        await read_all(req, 0, _malformed())

        def copy():
            fh, tmp = self.store.new_temp(bucket, key)
            try:
                with fh, open(self.store.object_path(src_bucket, src_key), "rb") as sfh:
                    shutil.copyfileobj(sfh, fh, 1024 * 1024)
                    fh.flush()
                    os.fsync(fh.fileno())
            except FileNotFoundError:
                self.store.discard(tmp)
                raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=src_key) from None
            except BaseException:
                self.store.discard(tmp)
                raise
            return self.store.commit(
                bucket, key, tmp, etag=src.etag, content_type=ctype, metadata=metadata, checksum=src.checksum
            )

        meta = await run_in_threadpool(copy)
        root = ET.Element("CopyObjectResult", xmlns=NS)
        _el(root, "LastModified", _iso(meta.modified))
        _el(root, "ETag", meta.etag)
        return _ok(req, _xml(root))

    # --- multipart ------------------------------------------------------------------------
    async def create_upload(self, req, bucket, key):
        check_object_key(key)
        self._may_write(req, bucket)
        await read_all(req, 0, _malformed())
        algorithm = (req.header("x-amz-checksum-algorithm") or "").upper() or None
        upload_id = await run_in_threadpool(
            self.store.create_upload,
            bucket,
            key,
            req.header("content-type") or DEFAULT_CONTENT_TYPE,
            self._user_metadata(req),
            algorithm,
            req.principal.access_key_id if req.principal else "",
        )
        root = ET.Element("InitiateMultipartUploadResult", xmlns=NS)
        _el(root, "Bucket", bucket)
        _el(root, "Key", key)
        _el(root, "UploadId", upload_id)
        headers = {"x-amz-checksum-algorithm": algorithm} if algorithm else {}
        if algorithm:
            headers["x-amz-checksum-type"] = "COMPOSITE"
        return _ok(req, _xml(root), headers=headers)

    async def upload_part(self, req, bucket, key):
        self._may_write(req, bucket)
        upload_id = req.arg("uploadId") or ""
        try:
            number = int(req.arg("partNumber") or "")
        except ValueError:
            raise AwsError(
                "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400
            ) from None
        if not 1 <= number <= MAX_PARTS:
            raise AwsError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400)
        await run_in_threadpool(self.store.upload, bucket, key, upload_id)
        tmp, reader = await self._receive(req, bucket, key, part_of=upload_id)
        etag = f'"{reader.md5}"'
        await run_in_threadpool(self.store.commit_part, upload_id, number, tmp, reader.size, etag, reader.checksum)
        headers = {"ETag": etag}
        for algorithm, value in reader.checksum.items():
            headers[f"x-amz-checksum-{algorithm.lower()}"] = value
        return _ok(req, headers=headers)

    async def list_parts(self, req, bucket, key):
        self._may_read(req)
        upload_id = req.arg("uploadId") or ""
        info = await run_in_threadpool(self.store.upload, bucket, key, upload_id)
        root = ET.Element("ListPartsResult", xmlns=NS)
        _el(root, "Bucket", bucket)
        _el(root, "Key", key)
        _el(root, "UploadId", upload_id)
        _el(root, "StorageClass", "STANDARD")
        _el(root, "IsTruncated", False)
        if info["checksum_algorithm"]:
            _el(root, "ChecksumAlgorithm", info["checksum_algorithm"])
        for number, size, etag, checksum, modified in await run_in_threadpool(self.store.parts, upload_id):
            p = _el(root, "Part")
            _el(p, "PartNumber", number)
            _el(p, "LastModified", _iso(modified))
            _el(p, "ETag", etag)
            _el(p, "Size", size)
            for algorithm, value in checksum.items():
                _el(p, f"Checksum{algorithm}", value)
        return _ok(req, _xml(root))

    async def list_uploads(self, req, bucket):
        self._may_read(req)
        await run_in_threadpool(self.store.require_bucket, bucket)
        root = ET.Element("ListMultipartUploadsResult", xmlns=NS)
        _el(root, "Bucket", bucket)
        _el(root, "IsTruncated", False)
        for upload_id, key, initiated in await run_in_threadpool(self.store.list_uploads, bucket):
            u = _el(root, "Upload")
            _el(u, "Key", key)
            _el(u, "UploadId", upload_id)
            _el(u, "Initiated", _iso(initiated))
            _el(u, "StorageClass", "STANDARD")
        return _ok(req, _xml(root))

    async def complete_upload(self, req, bucket, key):
        self._may_write(req, bucket)
        upload_id = req.arg("uploadId") or ""
        body = await read_all(req, MAX_XML_BYTES, _malformed())
        root = _parse_xml(body)
        wanted = []
        for part in root:
            if _local(part.tag) != "Part":
                continue
            try:
                wanted.append((int(_text(part, "PartNumber") or ""), _text(part, "ETag") or ""))
            except ValueError:
                raise _malformed() from None
        meta = await run_in_threadpool(self.store.complete_upload, bucket, key, upload_id, wanted)
        out = ET.Element("CompleteMultipartUploadResult", xmlns=NS)
        _el(out, "Location", f"/{bucket}/{quote(key)}")
        _el(out, "Bucket", bucket)
        _el(out, "Key", key)
        _el(out, "ETag", meta.etag)
        return _ok(req, _xml(out))

    async def abort_upload(self, req, bucket, key):
        self._may_write(req, bucket)
        await run_in_threadpool(self.store.abort_upload, bucket, key, req.arg("uploadId") or "")
        return _ok(req, status=204)


# --- helpers ---------------------------------------------------------------------------------


def _make_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8", "surrogatepass")).decode()


def _token_key(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AwsError(
            "InvalidArgument", "The continuation token provided is incorrect", 400, ArgumentName="continuation-token"
        ) from None


def _malformed() -> AwsError:
    return AwsError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: ET.Element, name: str) -> str | None:
    for child in el:
        if _local(child.tag) == name:
            return child.text or ""
    return None


def _parse_xml(body: bytes) -> ET.Element:
    # No DTDs or entities: nothing S3 accepts needs them, and they are how XML bombs work.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise _malformed()
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise _malformed() from None


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte for a single ``bytes=`` range; None to send the whole object (a
    header S3 ignores); AwsError InvalidRange (416) when nothing of it is in the object."""
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    first, last = m.group(1), m.group(2)
    if first == "":
        n = int(last)
        if n == 0:
            raise _bad_range(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or (last and end < start):
        raise _bad_range(size)
    return start, min(end, size - 1)


def _bad_range(size: int) -> AwsError:
    return AwsError("InvalidRange", "The requested range is not satisfiable", 416, ActualObjectSize=str(size))


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return parsedate_to_datetime(text)
    return None


def _etags(text: str) -> list[str]:
    return [t.strip().strip('"') for t in text.split(",")]


def _check_conditions(req: AwsRequest, meta: ObjectMeta) -> None:
    etag = meta.etag.strip('"')
    modified = meta.modified.replace(microsecond=0)
    if_match = req.header("if-match")
    if if_match is not None and etag not in _etags(if_match) and "*" not in _etags(if_match):
        raise AwsError(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Match",
        )
    since = _date(req.header("if-unmodified-since"))
    if if_match is None and since is not None and modified > since:
        raise AwsError(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Unmodified-Since",
        )
    none_match = req.header("if-none-match")
    if none_match is not None and (etag in _etags(none_match) or "*" in _etags(none_match)):
        raise AwsError("NotModified", "Not Modified", 304)
    since = _date(req.header("if-modified-since"))
    if none_match is None and since is not None and modified <= since:
        raise AwsError("NotModified", "Not Modified", 304)


def _check_copy_conditions(req: AwsRequest, meta: ObjectMeta) -> None:
    etag = meta.etag.strip('"')
    if_match = req.header("x-amz-copy-source-if-match")
    none_match = req.header("x-amz-copy-source-if-none-match")
    if (if_match and etag not in _etags(if_match)) or (none_match and etag in _etags(none_match)):
        raise AwsError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)


def _check_disk(root, wanted: int) -> None:
    """Refuse an upload that would leave less than 1 GiB free (the data dir also holds the face
    store and the event store, which must keep working)."""
    try:
        st = os.statvfs(root)
    except OSError:
        return
    if st.f_bavail * st.f_frsize - wanted < 1024**3:
        raise AwsError("ServiceUnavailable", "FaceGate's disk is nearly full; this upload was refused.", 503)
