"""The course's Web API (``POST /search``, ``POST /analyze``) on any world's services.

Input is an API Gateway (REST, Lambda proxy) event; output is a proxy response
(``statusCode``, ``headers``, ``body`` as a JSON string). The Lambda handlers in
``lambda_src/``, the local HTTP server (``core.web.server``) and the app's in-process client
(``core.web.client.local``) all call ``handle_route`` with the route they serve (``handle_event``
derives it from the event's path), so both worlds answer byte-for-byte the same way.

Bodies (HANDSON.md step 2-3), as a JSON object, a JSON string holding that object, or the
course's single-quoted variant:

- device: ``{"file_name", "bucket_name", "threshold"}`` (an object in the object store);
- phone: ``{"image_base64str": "<data URI or bare base64>", "threshold"}``.

``threshold`` defaults to 80 and is ignored by ``/analyze``. Success bodies are
``{"msg": "[SUCCEEDED]...", "payloads": {"timestamp": "YYYY-mm-dd HH:MM:SS", ...}}``; errors
are ``{"msg": "[FAILED]...", "error": "<Rekognition-style code>"}``. Every response carries
CORS headers and ``X-Request-Id``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from core.config import BUCKET_PATTERN
from core.errors import (
    AccessDenied,
    CollectionNotFound,
    FaceGateError,
    ImageTooLarge,
    InvalidImageFormat,
    InvalidParameter,
    NoFaceInImage,
    ResourceNotFound,
    ServiceUnavailable,
    Throttled,
)
from core.images.codec import decode_base64_image
from core.objects.port import check_key

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 80.0
MAX_FACES = 10  # the course's SearchFacesByImage MaxFaces
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS,POST",
    "Access-Control-Allow-Headers": "Content-Type,X-Api-Key,X-Amz-Date,Authorization,X-Amz-Security-Token,X-Request-Id",
    "Access-Control-Expose-Headers": "X-Request-Id",
    "Access-Control-Max-Age": "600",
}

SEARCH_DONE = "[SUCCEEDED]Rekognition done"
ANALYSIS_DONE = "[SUCCEEDED]Analysis done"
NO_FACE_FOUND = "[FAILED]No face found"


class NoSuchObject(InvalidParameter):
    """The device variant named an object that is not in the store. Answered 400, not 404,
    because 404 already means "no face" on /analyze and course clients branch on it."""

    code = "InvalidS3ObjectException"


@dataclass(frozen=True)
class ImageRequest:
    """A parsed request: exactly one of ``image_bytes`` or (``bucket_name``, ``file_name``)."""

    threshold: float
    image_bytes: bytes | None = None
    bucket_name: str | None = None
    file_name: str | None = None

    def rekognition_image(self, services) -> dict:
        """Rekognition's ``Image`` argument. Reads the object through ``services.objects`` (so
        the local and S3 worlds behave alike), and only from the photos bucket: the API must not
        become a way to read enrolment photos or logs. Raises NoSuchObject or InvalidParameter."""
        if self.image_bytes is not None:
            return {"Bytes": self.image_bytes}
        if self.bucket_name != services.settings.photos_bucket:
            raise InvalidParameter(
                f"bucket_name must be the photos bucket {services.settings.photos_bucket!r} (FACEGATE_PHOTOS_BUCKET)"
            )
        try:
            return {"Bytes": services.objects.get_object(self.bucket_name, self.file_name)}
        except ResourceNotFound:
            raise NoSuchObject(f"no object {self.file_name!r} in bucket {self.bucket_name!r}") from None


# --- request parsing ---------------------------------------------------------------------


def _json_or_single_quoted(text: str):
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack: not a request
        raise InvalidParameter("the request body nests too deeply") from None
    if "'" in text:
        # The course's handler tolerated {'file_name': 'a.jpg'}: base64 and object keys
        # never contain quotes, so swapping them is exact for every valid body.
        try:
            return json.loads(text.replace("'", '"'))
        except (ValueError, RecursionError):
            pass
    raise InvalidParameter("the request body is not JSON")


def parse_body(event: dict) -> dict:
    """The request body as a dict. Accepts a JSON object, a JSON string holding one, a
    single-quoted object, a base64-encoded body, and (Lambda console tests) an event that
    is itself the body. Raises InvalidParameter."""
    if not isinstance(event, dict):
        raise InvalidParameter("the event must be an object")
    if "body" not in event and ("image_base64str" in event or "file_name" in event):
        return event
    body = event.get("body")
    if body is None or body == "":
        raise InvalidParameter("the request body is empty")
    if isinstance(body, str) and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidParameter("the request body is not UTF-8 JSON") from None
    for _ in range(3):  # the body may be a JSON string that holds the JSON object
        if isinstance(body, dict):
            return body
        if not isinstance(body, str):
            break
        body = _json_or_single_quoted(body)
    raise InvalidParameter("the request body must be a JSON object")


def _threshold(body: dict) -> float:
    raw = body.get("threshold")
    if raw is None or raw == "":
        return DEFAULT_THRESHOLD
    if isinstance(raw, bool):
        raise InvalidParameter("threshold must be a number from 0 to 100")
    try:
        value = float(raw)  # curl users send "80" as often as 80
    except (TypeError, ValueError):
        raise InvalidParameter("threshold must be a number from 0 to 100") from None
    if not 0.0 <= value <= 100.0:
        raise InvalidParameter("threshold must be a number from 0 to 100")
    return value


def parse_image_request(body: dict) -> ImageRequest:
    """Validate one of the two body variants. Raises InvalidParameter (400) for a malformed
    body and InvalidImageFormat (423) for base64 that is not base64."""
    threshold = _threshold(body)
    has_phone = body.get("image_base64str") not in (None, "")
    has_device = body.get("file_name") not in (None, "") or body.get("bucket_name") not in (None, "")
    if has_phone and has_device:
        raise InvalidParameter("give either image_base64str or file_name and bucket_name, not both")
    if has_phone:
        text = body["image_base64str"]
        if not isinstance(text, str):
            raise InvalidParameter("image_base64str must be a string")
        return ImageRequest(threshold, image_bytes=decode_base64_image(text))
    if has_device:
        bucket, key = body.get("bucket_name"), body.get("file_name")
        if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket):
            raise InvalidParameter("bucket_name must be a bucket name (3-63 of a-z 0-9 . -)")
        if not isinstance(key, str):
            raise InvalidParameter("file_name must be a string")
        check_key(key)  # no traversal, absolute paths or control characters
        return ImageRequest(threshold, bucket_name=bucket, file_name=key)
    raise InvalidParameter("the body needs image_base64str, or file_name and bucket_name")


# --- responses ---------------------------------------------------------------------------


def _timestamp() -> str:
    # Lambda's clock is UTC; the course's handler printed datetime.now() there.
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def proxy_response(status: int, body: dict | None, request_id: str) -> dict:
    """An API Gateway proxy response with CORS headers and X-Request-Id."""
    headers = {**CORS_HEADERS, "X-Request-Id": request_id}
    text = ""
    if body is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        text = json.dumps(body, ensure_ascii=False, default=_json_default)
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": False}


# Domain error -> (status, message). Most specific first; the route decides "no face".
_ERROR_STATUS: tuple[tuple[type, int], ...] = (
    (ImageTooLarge, 422),
    (InvalidImageFormat, 423),
    (CollectionNotFound, 500),  # the server's collection is missing: not the caller's fault
    (NoSuchObject, 400),
    (InvalidParameter, 400),
    (ResourceNotFound, 400),
    (Throttled, 429),
    (ServiceUnavailable, 503),
    (AccessDenied, 500),
)


def error_response(exc: Exception, request_id: str, route: str = "") -> dict:
    """Map a domain error once to the course's status codes. Unknown exceptions become a
    500 that names only the request id (the stack trace goes to the log, never the body)."""
    if isinstance(exc, NoFaceInImage):
        status = 421 if route == "search" else 404
        return proxy_response(status, {"msg": NO_FACE_FOUND, "error": "NoFaceInImage"}, request_id)
    if isinstance(exc, FaceGateError):
        status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), 500)
        if status >= 500:
            log.error("request %s failed: %s: %s", request_id, exc.code, exc.message)
        return proxy_response(status, {"msg": f"[FAILED]{exc.message}", "error": exc.code}, request_id)
    log.exception("request %s failed unexpectedly", request_id)
    return proxy_response(
        500, {"msg": f"[FAILED]Internal error (request id {request_id})", "error": "InternalError"}, request_id
    )


# --- routes ------------------------------------------------------------------------------


def search_faces(request: ImageRequest, services) -> dict:
    """The /search success body. Raises domain errors (NoFaceInImage when no face)."""
    result = services.faces.search_faces_by_image(
        CollectionId=services.settings.collection,
        Image=request.rekognition_image(services),
        MaxFaces=MAX_FACES,
        FaceMatchThreshold=request.threshold,
    )
    return {"msg": SEARCH_DONE, "payloads": {"timestamp": _timestamp(), **result}}


def analyze_faces(request: ImageRequest, services) -> dict:
    """The /analyze success body, or raises NoFaceInImage when FaceDetails is empty."""
    result = services.faces.detect_faces(Image=request.rekognition_image(services), Attributes=["ALL"])
    if not result.get("FaceDetails"):
        raise NoFaceInImage("No face found")
    return {"msg": ANALYSIS_DONE, "payloads": {"timestamp": _timestamp(), "analysis": result["FaceDetails"]}}


ROUTES = {"search": search_faces, "analyze": analyze_faces}


def request_id_of(event, context=None) -> str:
    """API Gateway's request id when there is one, else a fresh UUID."""
    rid = None
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        rid = event["requestContext"].get("requestId")
    if not rid and context is not None:
        rid = getattr(context, "aws_request_id", None)
    return str(rid) if rid else str(uuid.uuid4())


def handle_route(route: str, event: dict, services, context=None) -> dict:
    """Answer one proxy event for ``route`` ("search" or "analyze"). Never raises."""
    request_id = request_id_of(event, context)
    try:
        method = (event.get("httpMethod") or "POST").upper() if isinstance(event, dict) else "POST"
        if method == "OPTIONS":
            return proxy_response(200, None, request_id)
        if method != "POST":
            raise InvalidParameter(f"{method} is not supported; use POST")
        body = parse_body(event)
        request = parse_image_request(body)
        return proxy_response(200, ROUTES[route](request, services), request_id)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a mapped response
        return error_response(exc, request_id, route)


def route_of(path: str) -> str | None:
    """``/search``, ``/prod/search`` (any one stage prefix) -> "search"; unknown -> None."""
    parts = [p for p in (path or "").split("?", 1)[0].split("/") if p]
    if 1 <= len(parts) <= 2 and parts[-1] in ROUTES:
        return parts[-1]
    return None


def handle_event(event: dict, services, context=None) -> dict:
    """Dispatch a proxy event on its ``resource``/``path``. Unknown routes answer like API
    Gateway does: 403 ``{"message": "Missing Authentication Token"}``."""
    route = route_of(event.get("resource") or event.get("path") or "")
    if route is None:
        return api_gateway_response(403, "Missing Authentication Token", request_id_of(event, context))
    return handle_route(route, event, services, context)


def api_gateway_response(status: int, message: str, request_id: str) -> dict:
    """What API Gateway itself answers before any handler runs (``{"message": ...}``)."""
    return proxy_response(status, {"message": message}, request_id)
