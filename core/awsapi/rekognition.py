"""Amazon Rekognition's JSON 1.1 protocol (``X-Amz-Target: RekognitionService.<Op>``) on the
app's own face collections port (``services.faces``), so a collection made with
``aws rekognition create-collection`` is one the app, the Web API and ``python -m core faces``
see, and the other way round.

Requests are read with botocore's service model (blobs are base64, as on the wire) and
checked with botocore's own parameter validator, so a client that is not botocore (curl, the
JavaScript SDK) gets the same InvalidParameterException for a malformed call. ``Image`` may be
``Bytes`` (5 MB) or an ``S3Object`` in the local object store (15 MB, as Rekognition reads
S3). Responses are the port's Rekognition-shaped answers; errors are Rekognition's
(``{"__type": ..., "Message": ...}``, 400, or 500 for ThrottlingException and
InternalServerError).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
from datetime import datetime
from functools import lru_cache

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from core.awsapi import policy
from core.awsapi.errors import AwsError
from core.awsapi.http import AwsRequest
from core.bootstrap.services import Services
from core.config import current_collection
from core.errors import FaceGateError
from core.faces.port import FaceCollections

log = logging.getLogger("facegate.awsapi")

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
MAX_BODY_BYTES = 8 * 1024 * 1024  # a 5 MB image in base64 (6.7 MB) plus the JSON around it
OPERATIONS = {
    "CreateCollection": "create_collection",
    "DeleteCollection": "delete_collection",
    "ListCollections": "list_collections",
    "DescribeCollection": "describe_collection",
    "IndexFaces": "index_faces",
    "ListFaces": "list_faces",
    "DeleteFaces": "delete_faces",
    "SearchFacesByImage": "search_faces_by_image",
    "SearchFaces": "search_faces",
    "DetectFaces": "detect_faces",
    "CompareFaces": "compare_faces",
}
_SERVER_ERRORS = ("ThrottlingException", "InternalServerError")


@lru_cache(maxsize=1)
def service_model():
    """botocore's Rekognition model (loaded once; ~0.1 s)."""
    import botocore.session  # noqa: PLC0415 (botocore's model loads on first use)

    return botocore.session.get_session().get_service_model("rekognition")


def _supported(method: str) -> set[str]:
    params = inspect.signature(getattr(FaceCollections, method)).parameters
    return {n for n, p in params.items() if p.kind == inspect.Parameter.KEYWORD_ONLY}


def error_response(err: AwsError, req: AwsRequest | None) -> Response:
    body = {"__type": err.code, "Message": err.message}
    headers = {"x-amzn-RequestId": req.request_id if req else "", "x-amzn-ErrorType": err.code}
    return Response(json.dumps(body), status_code=err.status, media_type=CONTENT_TYPE, headers=headers)


def domain_error(exc: FaceGateError) -> AwsError:
    """A core domain error as Rekognition names it (FaceGateError.code is Rekognition's name)."""
    code = exc.code
    if code in ("ServiceUnavailableException",):
        code = "ThrottlingException"
    elif not code.endswith("Exception") and code != "InternalServerError":
        code = "InternalServerError"
    return AwsError(code, exc.message, 500 if code in _SERVER_ERRORS else 400)


def _decode(shape, value, path: str):
    """JSON (as sent) -> Python per the model: blobs from base64, the rest as is."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure" and isinstance(value, dict):
        return {k: (_decode(shape.members[k], v, f"{path}.{k}") if k in shape.members else v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_decode(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise AwsError("InvalidParameterException", f"{path} is not valid base64", 400) from None
    return value


def _encode(value):
    """Port output -> JSON: datetimes as epoch seconds (the JSON protocol's timestamps), blobs as base64."""
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _images(params: dict) -> list[dict]:
    return [params[k] for k in ("Image", "SourceImage", "TargetImage") if isinstance(params.get(k), dict)]


class RekognitionApi:
    def __init__(self, services: Services):
        self.services = services
        self._hinted: set[str] = set()

    async def handle(self, req: AwsRequest, body: bytes) -> Response:
        target = req.header("x-amz-target") or ""
        if not target.startswith(TARGET_PREFIX) or target[len(TARGET_PREFIX) :] not in OPERATIONS:
            known = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else target
            if known in service_model().operation_names:
                raise AwsError("InvalidParameterException", f"FaceGate's local Rekognition does not offer {known}", 400)
            raise AwsError("UnknownOperationException", "", 400)
        op = target[len(TARGET_PREFIX) :]
        if not policy.may_call_rekognition(req.role, op):
            raise AwsError(
                "AccessDeniedException",
                f"User: facegate:{req.principal.name if req.principal else '?'} ({req.role}) is not authorized to "
                f"perform: rekognition:{op}",
                400,
            )
        params = self._params(op, body)
        self._check_images(req, params)
        method = getattr(self.services.faces, OPERATIONS[op])
        try:
            result = await run_in_threadpool(lambda: method(**params))
        except FaceGateError as exc:
            raise domain_error(exc) from None
        if op in ("CreateCollection", "IndexFaces"):
            self._collection_hint(params.get("CollectionId"))
        return Response(
            json.dumps(_encode(result), ensure_ascii=False),
            media_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": req.request_id},
        )

    def _params(self, op: str, body: bytes) -> dict:
        try:
            raw = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise AwsError("SerializationException", "The request body is not valid JSON", 400) from None
        if not isinstance(raw, dict):
            raise AwsError("SerializationException", "The request body must be a JSON object", 400)
        shape = service_model().operation_model(op).input_shape
        params = _decode(shape, {k: v for k, v in raw.items() if k in shape.members}, op)
        from botocore.validate import ParamValidator  # noqa: PLC0415 (with the model, on first use)

        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            raise AwsError("InvalidParameterException", report.generate_report(), 400)
        unsupported = sorted(set(params) - _supported(OPERATIONS[op]))
        if unsupported:
            raise AwsError(
                "InvalidParameterException",
                f"FaceGate's local Rekognition does not support {', '.join(unsupported)} in {op}",
                400,
            )
        for image in _images(params):
            s3 = image.get("S3Object")
            if isinstance(s3, dict) and s3.get("Version"):
                raise AwsError(
                    "InvalidParameterException",
                    "The local object store keeps no object versions (S3Object.Version)",
                    400,
                )
        return params

    def _check_images(self, req: AwsRequest, params: dict) -> None:
        """An S3Object image: the caller may analyse that bucket, and the object exists."""
        settings = self.services.settings
        for image in _images(params):
            s3 = image.get("S3Object")
            if not isinstance(s3, dict):
                continue
            bucket = s3.get("Bucket", "")
            if not policy.may_analyse_object(req.role, bucket, settings):
                raise AwsError(
                    "AccessDeniedException",
                    f"Only admin credentials may analyse objects in bucket {bucket!r} (biometric data or logs)",
                    400,
                )

    def _collection_hint(self, collection_id) -> None:
        """A learner who makes their own collection (the course's step 1) is told which one the
        app and the Web API search, and how to switch, once per collection."""

        used = current_collection(self.services.settings)
        if not collection_id or collection_id == used or collection_id in self._hinted:
            return
        self._hinted.add(collection_id)
        log.warning(
            "collection %r: the app, the Web API (/search) and `python -m core faces` use collection %r. "
            "To use %r instead: python -m core faces use-collection %s  (or the Settings page; "
            "FACEGATE_COLLECTION overrides both)  /  アプリとWeb APIはコレクション %r を使っています。"
            "%r に切り替えるには: python -m core faces use-collection %s",
            collection_id, used, collection_id, collection_id, used, collection_id, collection_id,
        )  # fmt: skip
