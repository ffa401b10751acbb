"""What every protocol of the endpoint shares: the parsed request, who signed it, and the body
as it streams in (aws-chunked decoding, payload hash, Content-MD5 and checksum checks, size
limit, read timeout)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

from starlette.requests import Request

from core.awsapi import sigv4
from core.awsapi.checksums import Checksum, algorithm_of_header, requested
from core.awsapi.credentials import Credential, CredentialStore
from core.awsapi.errors import AwsError, auth_error

READ_TIMEOUT_S = 30.0  # a client that stops sending mid-body gets RequestTimeout, not a held slot


@dataclass
class AwsRequest:
    """A request as the protocols see it. ``raw_path`` is percent-encoded, as sent."""

    http: Request
    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())
    principal: Credential | None = None
    verified: sigv4.Verified | None = None
    service: str = ""
    body_done: bool = False  # the whole body was read (else the connection must close)

    @classmethod
    def of(cls, request: Request) -> AwsRequest:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw.decode("utf-8", "surrogateescape").split("?", 1)[0] or "/"
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        return cls(
            request,
            scope["method"].upper(),
            raw_path,
            sigv4.query_pairs(scope.get("query_string", b"")),
            headers,
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def arg(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return default

    def has_arg(self, name: str) -> bool:
        return any(k == name for k, _ in self.query)

    @property
    def has_body(self) -> bool:
        length = self.header("content-length")
        return bool(self.header("transfer-encoding")) or (length is not None and length.strip() not in ("", "0"))

    @property
    def role(self) -> str:
        return self.principal.role if self.principal else ""


def authenticate(req: AwsRequest, credentials: CredentialStore, protocol: str, body_sha256: str | None) -> None:
    """Check the request's SigV4 signature and set ``req.principal`` and ``req.verified``.
    Raises AwsError with AWS's own refusal in ``protocol`` ("s3", "json", "rest-json")."""
    key_id = ""
    try:
        sig = sigv4.parse(req.header("authorization"), {k.lower(): v for k, v in req.headers}, req.query)
        if sig is None:
            raise sigv4.AuthFailure("missing")
        key_id = sig.access_key_id
        if sig.service != req.service:
            raise sigv4.AuthFailure("wrong_service", f"Expected '{req.service}', not '{sig.service}'.")
        cred = credentials.lookup(sig.access_key_id)
        if cred is None:
            raise sigv4.AuthFailure("unknown_key")
        state = cred.state()
        if state == "revoked":
            raise sigv4.AuthFailure("revoked")
        if state == "expired":
            raise sigv4.AuthFailure("expired_key")
        if sig.security_token:
            raise sigv4.AuthFailure("token")
        req.verified = sigv4.verify(
            sig,
            cred.secret_access_key,
            method=req.method,
            raw_path=req.raw_path,
            query=req.query,
            headers=req.headers,
            body_sha256=body_sha256,
        )
        req.principal = cred
    except sigv4.AuthFailure as failure:
        raise auth_error(protocol, failure, key_id) from None


async def read_all(req: AwsRequest, limit: int, too_large: AwsError) -> bytes:
    """The whole body (for JSON services, which sign its hash), at most ``limit`` bytes."""
    declared = req.header("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    out = bytearray()
    stream = req.http.stream()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), READ_TIMEOUT_S)
        except StopAsyncIteration:
            req.body_done = True
            return bytes(out)
        except TimeoutError:
            raise AwsError("RequestTimeout", "The request body was not sent within the timeout period.", 408) from None
        out += chunk
        if len(out) > limit:
            raise too_large


class BodyReader:
    """An S3 request body, decoded and checked as it streams (see ``chunks``).

    After the last chunk: ``size``, ``md5`` (hex) and ``checksum`` (``{"CRC32": "..."}`` for
    the checksum the client sent, in a header or a trailer) describe the payload.
    """

    def __init__(self, req: AwsRequest, limit: int):
        self.req = req
        self.limit = limit
        self.size = 0
        self.md5 = ""
        self.checksum: dict[str, str] = {}
        verified = req.verified
        self.payload_hash = verified.payload_hash if verified else sigv4.UNSIGNED_PAYLOAD
        encoding = (req.header("content-encoding") or "").lower()
        self.chunked = self.payload_hash in sigv4.STREAMING or "aws-chunked" in encoding
        self.decoder = None
        if self.chunked:
            mode = self.payload_hash if self.payload_hash in sigv4.STREAMING else sigv4.STREAMING_UNSIGNED_TRAILER
            self.decoder = sigv4.ChunkedDecoder(verified, mode)
        self.declared = _int_or_none(
            req.header("x-amz-decoded-content-length") if self.chunked else req.header("content-length")
        )
        if self.declared is not None and self.declared > limit:
            raise AwsError(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                400,
                ProposedSize=str(self.declared),
                MaxSizeAllowed=str(limit),
            )
        self._sums: dict[str, tuple[Checksum, str | None]] = {}
        for algorithm, value in requested(_HeaderView(req)):
            self._sums[algorithm] = (Checksum(algorithm), value)
        trailer = req.header("x-amz-trailer")
        if trailer:
            trailing = algorithm_of_header(trailer)
            if trailing is None:
                raise AwsError(
                    "InvalidRequest",
                    f"The value specified in the x-amz-trailer header is not supported: {trailer}",
                    400,
                )
            self._sums.setdefault(trailing, (Checksum(trailing), None))
        self._content_md5 = req.header("content-md5")

    async def chunks(self):
        """Yield the payload; at the end raise AwsError when it does not match what was signed
        or declared (XAmzContentSHA256Mismatch, BadDigest, IncompleteBody...)."""
        sha = hashlib.sha256() if len(self.payload_hash) == 64 else None
        md5 = hashlib.md5()  # noqa: S324 - S3's ETag and Content-MD5 are MD5
        stream = self.req.http.stream()
        while True:
            try:
                raw = await asyncio.wait_for(stream.__anext__(), READ_TIMEOUT_S)
            except StopAsyncIteration:
                self.req.body_done = True
                break
            except TimeoutError:
                raise AwsError(
                    "RequestTimeout",
                    "Your socket connection to the server was not read from or written to within the timeout period. "
                    "Idle connections will be closed.",
                    400,
                ) from None
            if not raw:
                continue
            if self.decoder is not None:
                try:
                    data = self.decoder.feed(raw)
                except sigv4.ChunkError as exc:
                    if exc.reason == "signature":
                        raise AwsError("SignatureDoesNotMatch", exc.message, 403) from None
                    raise AwsError("IncompleteBody", exc.message, 400) from None
            else:
                data = raw
            if not data:
                continue
            self.size += len(data)
            if self.size > self.limit:
                raise AwsError(
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    400,
                    MaxSizeAllowed=str(self.limit),
                )
            md5.update(data)
            if sha is not None:
                sha.update(data)
            for checksum, _ in self._sums.values():
                checksum.update(data)
            yield data
        if self.decoder is not None and not self.decoder.done:
            raise AwsError(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
                400,
            )
        if self.declared is not None and self.size != self.declared:
            raise AwsError(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
                400,
            )
        if sha is not None and not hmac.compare_digest(sha.hexdigest(), self.payload_hash):
            raise AwsError(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
                ClientComputedContentSHA256=self.payload_hash,
                S3ComputedContentSHA256=sha.hexdigest(),
            )
        self.md5 = md5.hexdigest()
        if self._content_md5:
            try:
                given = base64.b64decode(self._content_md5, validate=True)
            except (binascii.Error, ValueError):
                raise AwsError("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
            if given != md5.digest():
                raise AwsError("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
        trailers = self.decoder.trailers if self.decoder is not None else {}
        for algorithm, (checksum, header_value) in self._sums.items():
            expected = header_value or trailers.get(checksum.header)
            if expected is None:
                raise AwsError("InvalidRequest", f"The {checksum.header} trailer was announced but not sent.", 400)
            if expected != checksum.value():
                raise AwsError(
                    "BadDigest", f"The {algorithm} you specified did not match the calculated checksum.", 400
                )
            self.checksum = {algorithm: expected}


class _HeaderView:
    def __init__(self, req: AwsRequest):
        self.req = req

    def get(self, name: str):
        return self.req.header(name)


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not text.isdigit():
        raise AwsError("InvalidArgument", "Content-Length must be a number", 400)
    return int(text)
