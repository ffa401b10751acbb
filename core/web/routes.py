"""The course's Web API (``POST /search``, ``POST /analyze``) on any world's services.

Input is an API Gateway (REST, Lambda proxy) event; output is a proxy response
(``statusCode``, ``headers``, ``body`` as a JSON string). The Lambda handlers in
``lambda_src/``, the local HTTP server (``core.web.server``) and the app's in-process client
(``core.web.client.local``) all call ``handle_route`` with the route they serve (``handle_event``
derives it from the event's path), so both worlds answer byte-for-byte the same way.

Bodies (HANDSON.md step 2-3), as a JSON object, a JSON string holding that object, or the
course's single-quoted variant:

- device: ``{"file_name", "bucket_name", "threshold"}`` — an object Rekognition reads itself
  (``Image={"S3Object": ...}``, 15 MB), as the course's Lambda does, from any bucket that exists
  except the faces (biometric) and logs buckets;
- phone: ``{"image_base64str": "<data URI or bare base64>", "threshold"}`` (``image_base64``,
  the name in the course's published Lambda, is accepted too).

``threshold`` defaults to 80 and is ignored by ``/analyze``. Success bodies are
``{"msg": "[SUCCEEDED]...", "payloads": {"timestamp": "YYYY-mm-dd HH:MM:SS", ...}}``; a photo
without a face is a success for ``/analyze`` (``"analysis": []``, as DetectFaces answers).
Errors are ``{"msg": ..., "error": "<Rekognition-style code>"}`` with the course's own texts
and codes: a malformed body is 400 ``[FAILED]key "file_name" not found`` and the like; what
Rekognition refuses is, for the device variant, 400 ``[FAILED]An error occurred (<Code>) when
calling the <Operation> operation: ...`` and, for the phone variant, 421
「画像内に人物の顔を認識出来ませんでした」, 422 「画像のサイズが大きすぎます（制限:15MB）」 or 423
「画像のフォーマットが異なります（制限:PNGあるいはJPEG形式）」 (else 500). Every response carries
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
from typing import Protocol

from core.config import BUCKET_PATTERN, Settings, current_collection, records_zone
from core.errors import (
    AccessDenied,
    CollectionNotFound,
    FaceGateError,
    ImageTooLarge,
    InvalidImageFormat,
    InvalidParameter,
    NoFaceInImage,
    ServiceUnavailable,
    Throttled,
)
from core.faces.port import FaceCollections
from core.images.dataurl import decode_base64_image
from core.objects.port import ObjectStore, check_key
from core.storage.files import storage_full

log = logging.getLogger(__name__)


class ApiBackend(Protocol):
    """What the routes use: ``Services``, or the in-process client's three ports."""

    @property
    def settings(self) -> Settings: ...

    @property
    def faces(self) -> FaceCollections: ...

    @property
    def objects(self) -> ObjectStore: ...


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
# The course's phone Lambda answers these, in Japanese, without a [FAILED] prefix.
PHONE_NO_FACE = "画像内に人物の顔を認識出来ませんでした"
PHONE_TOO_LARGE = "画像のサイズが大きすぎます（制限:15MB）"
PHONE_BAD_FORMAT = "画像のフォーマットが異なります（制限:PNGあるいはJPEG形式）"
OPERATIONS = {"search": "SearchFacesByImage", "analyze": "DetectFaces"}
PHONE_KEYS = ("image_base64str", "image_base64")


@dataclass(frozen=True)
class ImageRequest:
    """A parsed request: exactly one of ``image_bytes`` or (``bucket_name``, ``file_name``)."""

    threshold: float
    image_bytes: bytes | None = None
    bucket_name: str | None = None
    file_name: str | None = None

    @property
    def variant(self) -> str:
        """ "phone" (the image in the body) or "device" (an object in a bucket)."""
        return "phone" if self.image_bytes is not None else "device"

    def rekognition_image(self, services: ApiBackend) -> dict:
        """Rekognition's ``Image`` argument: the bytes, or an ``S3Object`` that Rekognition reads
        itself (locally the faces port reads it from the object store; an absent bucket or key
        is InvalidS3Object). Never the faces bucket (enrolment photos: biometric data) or the
        logs bucket: the API must not become a way to analyse those. Raises AccessDenied."""
        if self.image_bytes is not None:
            return {"Bytes": self.image_bytes}
        s = services.settings
        if self.bucket_name in (s.faces_bucket, s.logs_bucket):
            which = "faces" if self.bucket_name == s.faces_bucket else "logs"
            raise AccessDenied(
                f"bucket_name {self.bucket_name!r} is FaceGate's {which} bucket, which the Web API does not read"
            )
        return {"S3Object": {"Bucket": self.bucket_name, "Name": self.file_name}}


# --- request parsing ---------------------------------------------------------------------


def _json_or_single_quoted(text: str):
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack: not a request
        raise InvalidParameter("json decode error (the body nests too deeply)") from None
    if "'" in text:
        # The course's handler tolerated {'file_name': 'a.jpg'}: base64 and object keys
        # never contain quotes, so swapping them is exact for every valid body.
        try:
            return json.loads(text.replace("'", '"'))
        except (ValueError, RecursionError):
            pass
    raise InvalidParameter("json decode error")


def parse_body(event: dict) -> dict:
    """The request body as a dict. Accepts a JSON object, a JSON string holding one, a
    single-quoted object, a base64-encoded body, and (Lambda console tests) an event that
    is itself the body. Raises InvalidParameter."""
    if not isinstance(event, dict):
        raise InvalidParameter("the event must be an object")
    if "body" not in event and any(k in event for k in (*PHONE_KEYS, "file_name")):
        return event
    body = event.get("body")
    if body is None or body == "":
        raise InvalidParameter("Data required")
    if isinstance(body, str) and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidParameter("json decode error (the body is not UTF-8)") from None
    for _ in range(3):  # the body may be a JSON string that holds the JSON object
        if isinstance(body, dict):
            return body
        if not isinstance(body, str):
            break
        body = _json_or_single_quoted(body)
    raise InvalidParameter("Invalid body type")


def _threshold(body: dict) -> float:
    raw = body.get("threshold")
    if raw is None or raw == "":
        return DEFAULT_THRESHOLD
    if isinstance(raw, bool):
        raise InvalidParameter('invalid value type: "threshold"')
    try:
        value = float(raw)  # curl users send "80" as often as 80
    except (TypeError, ValueError):
        raise InvalidParameter('invalid value type: "threshold"') from None
    if not 0.0 <= value <= 100.0:
        raise InvalidParameter("threshold must be a number from 0 to 100")
    return value


def parse_image_request(body: dict) -> ImageRequest:
    """Validate one of the two body variants. Raises InvalidParameter (400) with the course's
    texts (``key "bucket_name" not found``, ``no value found for "file_name"``, ``invalid value
    type: "file_name"``) and InvalidImageFormat for base64 that is not base64."""
    threshold = _threshold(body)
    phone_key = next((k for k in PHONE_KEYS if k in body), None)
    has_device = "file_name" in body or "bucket_name" in body
    if phone_key and has_device:
        raise InvalidParameter("give either image_base64str or file_name and bucket_name, not both")
    if phone_key:
        text = body[phone_key]
        if text == "" or text is None:
            raise InvalidParameter(f'no value found for "{phone_key}"')
        if not isinstance(text, str):
            raise InvalidParameter(f'invalid value type: "{phone_key}"')
        return ImageRequest(threshold, image_bytes=decode_base64_image(text))
    if not has_device:
        raise InvalidParameter('key "image_base64str" not found (or send file_name and bucket_name)')
    problems = []
    for key in ("bucket_name", "file_name"):  # the course's order and wording, all at once
        if key not in body:
            problems.append(f'key "{key}" not found')
        elif body[key] == "" or body[key] is None:
            problems.append(f'no value found for "{key}"')
        elif not isinstance(body[key], str):
            problems.append(f'invalid value type: "{key}"')
    if problems:
        raise InvalidParameter(", ".join(problems))
    bucket, key = body["bucket_name"], body["file_name"]
    if not BUCKET_PATTERN.match(bucket):
        raise InvalidParameter("bucket_name must be a bucket name (3-63 of a-z 0-9 . -)")
    check_key(key)  # no traversal, absolute paths or control characters
    return ImageRequest(threshold, bucket_name=bucket, file_name=key)


# --- responses ---------------------------------------------------------------------------


def _timestamp(settings) -> str:
    # The course's handler stamps datetime.now() of the machine that serves it (Lambda: UTC);
    # its device copies the stamp into its logs, which are read back in records_zone.
    return datetime.now(UTC).astimezone(records_zone(settings)).strftime("%Y-%m-%d %H:%M:%S")


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


def _failed(status: int, message: str, code: str, request_id: str) -> dict:
    if status >= 500:
        log.error("request %s failed: %s: %s", request_id, code, message)
    return proxy_response(status, {"msg": message, "error": code}, request_id)


def _as_botocore_says(exc: FaceGateError, route: str) -> str:
    """How the course's Lambda prints a Rekognition error (``'[FAILED]{}'.format(error)``)."""
    code = "InvalidParameterException" if isinstance(exc, NoFaceInImage) else exc.code
    return (
        f"[FAILED]An error occurred ({code}) when calling the {OPERATIONS.get(route, route)} operation: {exc.message}"
    )


def _collection_hint(exc: FaceGateError, services: ApiBackend | None) -> FaceGateError:
    """A missing collection, said plainly: which one FaceGate searches and how to change it."""
    if not isinstance(exc, CollectionNotFound) or services is None:
        return exc
    try:
        known = services.faces.list_collections().get("CollectionIds", [])
    except FaceGateError:
        known = []
    used = current_collection(services.settings)
    return CollectionNotFound(
        f"{exc.message}. FaceGate searches collection {used!r} (FACEGATE_COLLECTION or the Settings page); "
        f"collections here: {', '.join(known) or 'none'}. To use another: python -m core faces use-collection NAME"
    )


def error_response(
    exc: Exception, request_id: str, route: str = "", variant: str | None = None, services: ApiBackend | None = None
) -> dict:
    """Map an error once to the course's status codes and texts. ``variant`` ("phone" or
    "device") says the body was valid and Rekognition (the faces port) refused; None means
    the request itself was refused. Unknown exceptions become a 500 that names only the
    request id (the stack trace goes to the log, never the body)."""
    if not isinstance(exc, FaceGateError):
        data_dir = services.settings.data_dir if services is not None else None
        exc = storage_full(exc, data_dir) or exc  # a full disk is 503, not a 500
    if not isinstance(exc, FaceGateError):
        log.exception("request %s failed unexpectedly", request_id)
        text = f"[FAILED]An error occurred : Internal error (request id {request_id})"
        return _failed(500, text, "InternalError", request_id)
    code = "NoFaceInImage" if isinstance(exc, NoFaceInImage) else exc.code
    if isinstance(exc, Throttled):
        return _failed(429, f"[FAILED]{exc.message}", code, request_id)
    if isinstance(exc, ServiceUnavailable):
        return _failed(503, f"[FAILED]{exc.message}", code, request_id)
    if variant is None:  # the request itself
        if isinstance(exc, InvalidImageFormat):
            return _failed(423, PHONE_BAD_FORMAT, code, request_id)
        if isinstance(exc, ImageTooLarge):
            return _failed(422, PHONE_TOO_LARGE, code, request_id)
        if isinstance(exc, InvalidParameter):
            return _failed(400, f"[FAILED]{exc.message}", code, request_id)
        return _failed(500, f"[FAILED]An error occurred : {exc.message}", code, request_id)
    exc = _collection_hint(exc, services)
    if variant == "phone":
        if isinstance(exc, InvalidParameter):  # the course's Lambda: every InvalidParameterException
            return _failed(421, PHONE_NO_FACE, code, request_id)
        if isinstance(exc, ImageTooLarge):
            return _failed(422, PHONE_TOO_LARGE, code, request_id)
        if isinstance(exc, InvalidImageFormat):
            return _failed(423, PHONE_BAD_FORMAT, code, request_id)
        return _failed(500, _as_botocore_says(exc, route), code, request_id)
    return _failed(400, _as_botocore_says(exc, route), code, request_id)  # the device Lambda: 400


# --- routes ------------------------------------------------------------------------------


def search_faces(request: ImageRequest, services: ApiBackend) -> dict:
    """The /search success body. Raises domain errors (NoFaceInImage when no face)."""
    result = services.faces.search_faces_by_image(
        CollectionId=current_collection(services.settings),
        Image=request.rekognition_image(services),
        MaxFaces=MAX_FACES,
        FaceMatchThreshold=request.threshold,
    )
    return {"msg": SEARCH_DONE, "payloads": {"timestamp": _timestamp(services.settings), **result}}


def analyze_faces(request: ImageRequest, services: ApiBackend) -> dict:
    """The /analyze success body; ``analysis`` is empty for a photo without a face (DetectFaces
    answers an empty FaceDetails, and the course's Lambda passes it on with 200)."""
    result = services.faces.detect_faces(Image=request.rekognition_image(services), Attributes=["ALL"])
    return {
        "msg": ANALYSIS_DONE,
        "payloads": {"timestamp": _timestamp(services.settings), "analysis": result.get("FaceDetails", [])},
    }


ROUTES = {"search": search_faces, "analyze": analyze_faces}


def request_id_of(event, context=None) -> str:
    """API Gateway's request id when there is one, else a fresh UUID."""
    rid = None
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        rid = event["requestContext"].get("requestId")
    if not rid and context is not None:
        rid = getattr(context, "aws_request_id", None)
    return str(rid) if rid else str(uuid.uuid4())


def handle_route(route: str, event: dict, services: ApiBackend, context=None) -> dict:
    """Answer one proxy event for ``route`` ("search" or "analyze"). Never raises."""
    request_id = request_id_of(event, context)
    try:
        method = (event.get("httpMethod") or "POST").upper() if isinstance(event, dict) else "POST"
        if method == "OPTIONS":
            return proxy_response(200, None, request_id)
        if method != "POST":
            raise InvalidParameter(f"{method} is not supported; use POST")
        request = parse_image_request(parse_body(event))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a mapped response
        return error_response(exc, request_id, route)
    try:
        return proxy_response(200, ROUTES[route](request, services), request_id)
    except Exception as exc:  # noqa: BLE001
        return error_response(exc, request_id, route, request.variant, services)


def route_of(path: str) -> str | None:
    """``/search``, ``/prod/search`` (any one stage prefix) -> "search"; unknown -> None."""
    parts = [p for p in (path or "").split("?", 1)[0].split("/") if p]
    if 1 <= len(parts) <= 2 and parts[-1] in ROUTES:
        return parts[-1]
    return None


def handle_event(event: dict, services: ApiBackend, context=None) -> dict:
    """Dispatch a proxy event on its ``resource``/``path``. Unknown routes answer like API
    Gateway does: 403 ``{"message": "Missing Authentication Token"}``."""
    route = route_of(event.get("resource") or event.get("path") or "")
    if route is None:
        return api_gateway_response(403, "Missing Authentication Token", request_id_of(event, context))
    return handle_route(route, event, services, context)


def api_gateway_response(status: int, message: str, request_id: str) -> dict:
    """What API Gateway itself answers before any handler runs (``{"message": ...}``)."""
    return proxy_response(status, {"message": message}, request_id)
