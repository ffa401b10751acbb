"""The Web API client port: one way to build requests and read answers, two transports.

Requests use the course's bodies (the phone variant as a data URI, or the device variant
naming an object); answers are read back into domain results, and error statuses into the
same domain errors ``core.web.routes`` mapped them from (421 -> NoFaceInImage, 422/413 ->
ImageTooLarge, 423 -> InvalidImageFormat, 400 -> InvalidParameter, 403 -> AccessDenied,
429 -> Throttled, 5xx -> ServiceUnavailable or CollectionNotFound; the body's ``error`` code
first, since the device variant answers 400 for every Rekognition refusal).
"""

from __future__ import annotations

import abc
import base64
import json
from dataclasses import dataclass, field

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

MAX_BODY_BYTES = 6 * 1024 * 1024  # what API Gateway + Lambda accept; refused before sending


@dataclass(frozen=True)
class Match:
    person: str | None  # ExternalImageId
    similarity: float
    face_id: str


@dataclass(frozen=True)
class SearchAnswer:
    """A /search answer: matches best first (empty when nobody matched)."""

    matches: list[Match]
    payloads: dict = field(repr=False)  # timestamp + the SearchFacesByImage response
    request_id: str = ""

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True)
class AnalysisAnswer:
    """An /analyze answer: Rekognition FaceDetails (empty when no face was found)."""

    faces: list[dict]
    timestamp: str = ""
    request_id: str = ""


def _mime(image: bytes) -> str:
    return "image/png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"


def request_body(
    image: bytes | None = None,
    *,
    bucket_name: str | None = None,
    file_name: str | None = None,
    threshold: float | None = None,
) -> str:
    """The course's JSON body: the phone variant (``image``) or the device one (an object).
    Raises InvalidParameter, or ImageTooLarge when the body would exceed 6 MB."""
    if (image is None) == (file_name is None):
        raise InvalidParameter("give either image bytes or file_name and bucket_name")
    body: dict[str, object]
    if image is not None:
        body = {"image_base64str": f"data:{_mime(image)};base64,{base64.b64encode(image).decode('ascii')}"}
    else:
        body = {"file_name": file_name, "bucket_name": bucket_name}
    if threshold is not None:
        body["threshold"] = threshold
    text = json.dumps(body)
    if len(text) > MAX_BODY_BYTES:
        raise ImageTooLarge(f"the request would be {len(text)} bytes; the API accepts {MAX_BODY_BYTES}")
    return text


def _error(status: int, body: dict) -> FaceGateError:
    message = str(body.get("msg") or body.get("message") or f"HTTP {status}").removeprefix("[FAILED]")
    code = body.get("error")
    # The device variant answers every Rekognition refusal with 400, as the course's Lambda
    # does: the error code tells them apart.
    if status == 421 or code == "NoFaceInImage":
        return NoFaceInImage(message)
    if status in (413, 422) or code == "ImageTooLargeException":
        return ImageTooLarge(message)
    if status == 423 or code == "InvalidImageFormatException":
        return InvalidImageFormat(message)
    if code == "ResourceNotFoundException" and "collection" in message.lower():
        return CollectionNotFound(message)
    if status == 400:
        return InvalidParameter(message)
    if status == 403:
        return AccessDenied(f"the Web API refused the request ({message}); check FACEGATE_API_KEY")
    if status == 429:
        return Throttled(message)
    if code == "ResourceNotFoundException":
        return CollectionNotFound(message)
    return ServiceUnavailable(f"the Web API answered {status}: {message}")


def read_answer(status: int, text: str) -> dict:
    """The JSON body of a 200 answer; any other status raises the matching domain error."""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status != 200:
        raise _error(status, body)
    if "payloads" not in body:
        raise ServiceUnavailable("the Web API answered 200 without payloads")
    return body


class FaceApi(abc.ABC):
    """``search`` and ``analyze`` as the camera page uses them, over some transport."""

    @abc.abstractmethod
    def post(self, route: str, body: str) -> tuple[int, str, dict]:
        """Send ``body`` to ``/route``; return (status, response text, headers).
        Raises ServiceUnavailable when the API cannot be reached."""

    def search(
        self,
        image: bytes | None = None,
        *,
        bucket_name: str | None = None,
        file_name: str | None = None,
        threshold: float | None = None,
    ) -> SearchAnswer:
        """Who is this? Returns matches best first; raises NoFaceInImage, ImageTooLarge,
        InvalidImageFormat, InvalidParameter, AccessDenied, Throttled or ServiceUnavailable."""
        status, text, headers = self.post(
            "search", request_body(image, bucket_name=bucket_name, file_name=file_name, threshold=threshold)
        )
        payloads = read_answer(status, text)["payloads"]
        matches = [
            Match(m["Face"].get("ExternalImageId"), float(m["Similarity"]), m["Face"]["FaceId"])
            for m in payloads.get("FaceMatches", [])
        ]
        matches.sort(key=lambda m: m.similarity, reverse=True)
        return SearchAnswer(matches, payloads, _request_id(headers))

    def analyze(
        self, image: bytes | None = None, *, bucket_name: str | None = None, file_name: str | None = None
    ) -> AnalysisAnswer:
        """How does the face read? Returns FaceDetails (empty when no face); raises as ``search``."""
        status, text, headers = self.post("analyze", request_body(image, bucket_name=bucket_name, file_name=file_name))
        payloads = read_answer(status, text)["payloads"]  # no face: 200 with an empty analysis
        return AnalysisAnswer(list(payloads.get("analysis", [])), payloads.get("timestamp", ""), _request_id(headers))


def _request_id(headers: dict) -> str:
    for name, value in (headers or {}).items():
        if name.lower() in ("x-request-id", "x-amzn-requestid"):
            return value
    return ""
