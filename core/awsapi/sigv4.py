"""Checking AWS Signature Version 4 on requests that AWS's own SDKs and CLI sign.

Written from AWS's specification ("Create a signed AWS API request", "Signature
Calculations for the Authorization Header", "Authenticating Requests: Using Query
Parameters", "Signature Calculations for the Authorization Header: Transferring Payload in
Multiple Chunks") rather than by calling ``botocore.auth.SigV4Auth`` on a rebuilt request:
botocore's signer decides for itself which headers to sign (it drops ``User-Agent``,
``Expect``...), how to build the path and the payload hash, and reads the clock, so on the
server it would sign *its* idea of the request, not what another client (the AWS CLI v2, the
JavaScript SDK in the course's phone page, curl --aws-sigv4) signed. The spec canonicalises
exactly the headers the client lists. The tests check this module against botocore's signer
on awkward paths and queries, and against real boto3 / AWS CLI requests.

Server side, from the spec:

* canonical URI: S3 signs the path as sent; every other service signs it URI-encoded once
  more after removing dot segments and empty segments (what botocore and the JS SDK do);
* canonical query: each name and value percent-decoded then encoded with only
  ``A-Za-z0-9-_.~`` left bare, sorted by name then value; ``X-Amz-Signature`` left out;
* canonical headers: the signed names, lower case, each value trimmed with inner runs of
  whitespace folded to one space, repeated headers joined by commas;
* payload hash: S3's ``x-amz-content-sha256`` header (a hex SHA-256, ``UNSIGNED-PAYLOAD`` or a
  ``STREAMING-...`` value), otherwise the SHA-256 of the body.

Signatures are compared in constant time (``hmac.compare_digest``). The request time must be
within 15 minutes of the server's clock; presigned URLs last at most 7 days.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


class AuthFailure(Exception):
    """Why a request is refused. ``reason`` is one of the keys each protocol maps to AWS's own
    error code and status (core.awsapi.errors.AUTH_ERRORS)."""

    def __init__(self, reason: str, message: str = "", **extra):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class Signature:
    """What a request claims about its signature (header or presigned query)."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    presigned: bool = False
    expires_s: int | None = None
    security_token: str | None = None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def service_of(authorization: str | None, query: list[tuple[str, str]]) -> str | None:
    """The service a request was signed for (``s3``, ``rekognition``, ``iotdata``...), read
    from the credential scope before anything is checked; None when it is not SigV4-signed."""
    credential = None
    if authorization and authorization.startswith(ALGORITHM):
        m = re.search(r"Credential=([^,\s]+)", authorization)
        credential = m.group(1) if m else None
    else:
        credential = next((v for k, v in query if k == "X-Amz-Credential"), None)
    if credential:
        parts = credential.split("/")
        if len(parts) == 5:
            return parts[3]
    return None


def parse(authorization: str | None, headers, query: list[tuple[str, str]]) -> Signature | None:
    """The signature a request carries, or None for an unsigned request. Raises AuthFailure
    ("malformed", "unsupported") for what cannot be a SigV4 signature."""
    qd = dict(query)
    if authorization:
        if not authorization.startswith(ALGORITHM + " "):
            raise AuthFailure("unsupported", "Only AWS4-HMAC-SHA256 (Signature Version 4) signatures are accepted.")
        fields = {}
        for part in authorization[len(ALGORITHM) + 1 :].split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name] = value
        missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
        if missing:
            raise AuthFailure("malformed", f"Authorization header requires {', '.join(missing)} parameter(s).")
        amz_date = headers.get("x-amz-date") or ""
        if not amz_date and headers.get("date"):
            amz_date = _from_http_date(headers.get("date"))
        return _signature(
            fields["Credential"],
            fields["SignedHeaders"],
            fields["Signature"],
            amz_date,
            presigned=False,
            security_token=headers.get("x-amz-security-token"),
        )
    if "AWSAccessKeyId" in qd and "Signature" in qd:
        raise AuthFailure(
            "unsupported",
            "Signature Version 2 (AWSAccessKeyId=...&Signature=...) is not accepted: sign with Signature Version 4 "
            "(botocore: Config(signature_version='s3v4'))",
        )
    if "X-Amz-Signature" in qd or "X-Amz-Credential" in qd:
        if qd.get("X-Amz-Algorithm") != ALGORITHM:
            raise AuthFailure("unsupported", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        missing = [
            n
            for n in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires")
            if not qd.get(n)
        ]
        if missing:
            raise AuthFailure("malformed", f"Query-string authentication requires {', '.join(missing)}.")
        try:
            expires = int(qd["X-Amz-Expires"])
        except ValueError:
            raise AuthFailure("malformed", "X-Amz-Expires should be a number") from None
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            raise AuthFailure("malformed", "X-Amz-Expires must be less than a week (in seconds); that is, 604800")
        return _signature(
            qd["X-Amz-Credential"],
            qd["X-Amz-SignedHeaders"],
            qd["X-Amz-Signature"],
            qd["X-Amz-Date"],
            presigned=True,
            expires_s=expires,
            security_token=qd.get("X-Amz-Security-Token"),
        )
    return None


def _from_http_date(text: str) -> str:
    try:
        return parsedate_to_datetime(text).astimezone(UTC).strftime(_AMZ_DATE)
    except (TypeError, ValueError):
        return ""


def _signature(credential, signed_headers, signature, amz_date, **kw) -> Signature:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise AuthFailure("malformed", f"Credential should be scoped to a valid region, not '{credential}'.")
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE)
    except (TypeError, ValueError):
        raise AuthFailure(
            "malformed", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    if when.strftime("%Y%m%d") != parts[1]:
        raise AuthFailure(
            "malformed", f"Credential should be scoped to a valid date: {parts[1]} is not {amz_date[:8]}."
        )
    names = tuple(n for n in signed_headers.lower().split(";") if n)
    if not names or not re.fullmatch(r"[0-9a-f]{64}", signature or ""):
        raise AuthFailure("malformed", "SignedHeaders and Signature must be given in the right format.")
    return Signature(parts[0], parts[1], parts[2], parts[3], names, signature, amz_date, **kw)


# --- canonical request (the spec, server side) -------------------------------------------


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(query: list[tuple[str, str]], presigned: bool) -> str:
    """Names and values re-encoded per the spec and sorted; ``X-Amz-Signature`` dropped."""
    pairs = sorted((_encode(k), _encode(v)) for k, v in query if not (presigned and k == "X-Amz-Signature"))
    return "&".join(f"{k}={v}" for k, v in pairs)


def query_pairs(raw_query: bytes | str) -> list[tuple[str, str]]:
    """The query string as decoded (name, value) pairs, blanks kept, ``+`` left as ``+``
    (SigV4 encodes a space as %20, so a literal plus is a plus)."""
    text = raw_query.decode("utf-8", "surrogateescape") if isinstance(raw_query, bytes) else raw_query
    out = []
    for part in text.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((unquote(k), unquote(v)))
    return out


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4 plus AWS's folding of empty segments (botocore.utils.remove_dot_segments).
    if not path:
        return ""
    out: list[str] = []
    for seg in path.split("/"):
        if seg and seg != ".":
            if seg == "..":
                if out:
                    out.pop()
            else:
                out.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str, service: str) -> str:
    """S3 signs the path as sent; the other services sign it normalised and encoded again."""
    if service == "s3":
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path) or "/", safe="/~")


def canonical_headers(headers: list[tuple[str, str]], names: tuple[str, ...]) -> str:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    return "".join(f"{n}:{','.join(values.get(n, []))}\n" for n in names)


def canonical_request(method, uri, query, headers, names, payload_hash) -> str:
    return "\n".join([method.upper(), uri, query, canonical_headers(headers, names), ";".join(names), payload_hash])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def string_to_sign(sig: Signature, canonical: str) -> str:
    return "\n".join([ALGORITHM, sig.amz_date, sig.scope, hashlib.sha256(canonical.encode()).hexdigest()])


def hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verified:
    """A request whose signature checked out: who sent it and what its body must hash to."""

    signature: Signature
    payload_hash: str  # hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-... value
    key: bytes  # the signing key, for aws-chunked chunk signatures


def check_time(sig: Signature, now: datetime | None = None) -> None:
    """Raise AuthFailure ("skewed", "presign_expired", "not_yet_valid") when the request time
    is not acceptable."""
    now = now or datetime.now(UTC)
    when = datetime.strptime(sig.amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    if sig.presigned:
        if when > now + MAX_SKEW:
            raise AuthFailure("not_yet_valid", "Request is not valid yet", when=when, now=now)
        if when + timedelta(seconds=sig.expires_s or 0) < now:
            raise AuthFailure("presign_expired", "Request has expired", when=when, now=now, expires=sig.expires_s)
        return
    if abs(now - when) > MAX_SKEW:
        raise AuthFailure(
            "skewed", "The difference between the request time and the current time is too large.", when=when, now=now
        )


def verify(
    sig: Signature,
    secret: str,
    *,
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body_sha256: str | None,
    now: datetime | None = None,
) -> Verified:
    """Check ``sig`` against the request with ``secret``. ``body_sha256`` is the hex SHA-256 of
    the body for services that sign it (None for S3, whose hash comes from its header).
    Returns Verified; raises AuthFailure ("skewed", "signature", "unsigned_headers",
    "missing_content_sha256", ...)."""
    check_time(sig, now)
    present = {n.lower() for n, _ in headers}
    if "host" not in sig.signed_headers:
        raise AuthFailure("malformed", "'Host' must be a signed header.")
    unsigned = sorted(
        n
        for n in present
        if n.startswith("x-amz-") and n not in sig.signed_headers and n not in ("x-amz-content-sha256",)
    )
    if sig.service == "s3" and unsigned:
        raise AuthFailure(
            "unsigned_headers", "There were headers present in the request which were not signed", headers=unsigned
        )
    if sig.service == "s3":
        if sig.presigned:
            payload = UNSIGNED_PAYLOAD
        else:
            payload = dict((n.lower(), v) for n, v in headers).get("x-amz-content-sha256", "")
            if not payload:
                raise AuthFailure(
                    "missing_content_sha256", "Missing required header for this request: x-amz-content-sha256"
                )
            if payload not in (UNSIGNED_PAYLOAD, *STREAMING) and not _HEX64.match(payload):
                raise AuthFailure(
                    "bad_content_sha256",
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a SHA-256 in hex",
                )
    else:
        payload = body_sha256 or EMPTY_SHA256
    canonical = canonical_request(
        method,
        canonical_uri(raw_path, sig.service),
        canonical_query(query, sig.presigned),
        headers,
        sig.signed_headers,
        payload,
    )
    key = signing_key(secret, sig.date, sig.region, sig.service)
    to_sign = string_to_sign(sig, canonical)
    expected = hmac_hex(key, to_sign)
    if not hmac.compare_digest(expected, sig.signature):
        raise AuthFailure(
            "signature",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            canonical_request=canonical,
            string_to_sign=to_sign,
        )
    return Verified(sig, payload, key)


# --- aws-chunked bodies ----------------------------------------------------------------------


class ChunkError(Exception):
    """A malformed aws-chunked body or a chunk / trailer signature that does not match."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class ChunkedDecoder:
    """Turns an ``aws-chunked`` body back into the payload, chunk by chunk, as it streams in.

    ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)``: every chunk carries a signature chained
    from the request's (seed) signature; a trailer, if any, is signed last.
    ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (botocore over HTTPS with its default checksums):
    plain chunks, then trailers such as ``x-amz-checksum-crc32:...``.
    """

    MAX_LINE = 4096

    def __init__(self, verified: Verified | None, mode: str):
        self.mode = mode
        self.signed = mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
        self.verified = verified
        self.previous = verified.signature.signature if verified else ""
        self.trailers: dict[str, str] = {}
        self._buf = b""
        self._state = "size"  # size -> data -> crlf -> ... -> trailer -> done
        self._left = 0
        self._chunk_sig = ""
        self._chunk = hashlib.sha256()
        self._trailer_text = ""

    @property
    def done(self) -> bool:
        return self._state == "done"

    def _line(self) -> str | None:
        i = self._buf.find(b"\r\n")
        if i < 0:
            if len(self._buf) > self.MAX_LINE:
                raise ChunkError("malformed", "aws-chunked: a chunk header line is too long")
            return None
        line, self._buf = self._buf[:i], self._buf[i + 2 :]
        try:
            return line.decode("ascii")
        except UnicodeDecodeError:
            raise ChunkError("malformed", "aws-chunked: a chunk header is not ASCII") from None

    def _check_chunk(self) -> None:
        if not self.signed:
            return
        v = self.verified
        assert v is not None  # signed requests were verified before their body is read
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                v.signature.amz_date,
                v.signature.scope,
                self.previous,
                EMPTY_SHA256,
                self._chunk.hexdigest(),
            ]
        )
        expected = hmac_hex(v.key, text)
        if not hmac.compare_digest(expected, self._chunk_sig):
            raise ChunkError(
                "signature", "The chunk signature we calculated does not match the signature you provided."
            )
        self.previous = expected

    def feed(self, data: bytes) -> bytes:
        """Payload bytes decoded from ``data`` (possibly none yet). Raises ChunkError."""
        self._buf += data
        out = bytearray()
        while True:
            if self._state == "size":
                line = self._line()
                if line is None:
                    break
                size_text, _, ext = line.partition(";")
                try:
                    self._left = int(size_text.strip(), 16)
                except ValueError:
                    raise ChunkError("malformed", f"aws-chunked: bad chunk size {size_text[:20]!r}") from None
                self._chunk_sig = ext.partition("chunk-signature=")[2].strip() if ext else ""
                if self.signed and not self._chunk_sig:
                    raise ChunkError("malformed", "aws-chunked: a signed stream's chunk has no chunk-signature")
                self._chunk = hashlib.sha256()
                if self._left == 0:
                    self._check_chunk()
                    self._state = "trailer"
                else:
                    self._state = "data"
            elif self._state == "data":
                if not self._buf:
                    break
                take = self._buf[: self._left]
                self._buf = self._buf[len(take) :]
                self._left -= len(take)
                self._chunk.update(take)
                out += take
                if self._left == 0:
                    self._check_chunk()
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(self._buf) < 2:
                    break
                if self._buf[:2] != b"\r\n":
                    raise ChunkError("malformed", "aws-chunked: a chunk is longer than its declared size")
                self._buf = self._buf[2:]
                self._state = "size"
            elif self._state == "trailer":
                line = self._line()
                if line is None:
                    break
                if line == "":
                    self._finish_trailers()
                    self._state = "done"
                    continue
                name, sep, value = line.partition(":")
                if not sep:
                    raise ChunkError("malformed", f"aws-chunked: bad trailer line {line[:40]!r}")
                name = name.strip().lower()
                if name == "x-amz-trailer-signature":
                    self._trailer_sig = value.strip()
                else:
                    self.trailers[name] = value.strip()
                    self._trailer_text += f"{name}:{value.strip()}\n"
            else:  # done: anything after the final CRLF is not part of the body
                if self._buf.strip():
                    raise ChunkError("malformed", "aws-chunked: data after the final chunk")
                self._buf = b""
                break
        return bytes(out)

    def _finish_trailers(self) -> None:
        if self.mode != STREAMING_SIGNED_TRAILER:
            return
        sig = getattr(self, "_trailer_sig", "")
        v = self.verified
        assert v is not None  # signed requests were verified before their body is read
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                v.signature.amz_date,
                v.signature.scope,
                self.previous,
                hashlib.sha256(self._trailer_text.encode()).hexdigest(),
            ]
        )
        if not sig or not hmac.compare_digest(hmac_hex(v.key, text), sig):
            raise ChunkError(
                "signature", "The trailer signature we calculated does not match the signature you provided."
            )
