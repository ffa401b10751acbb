"""The endpoint as one ASGI app: which service a request is for, who signed it, and the
answer in that service's own wire protocol.

A request's service is the one its SigV4 credential scope names (``s3``, ``rekognition``,
``iotdata``), which every signed request carries; a virtual-host name
(``<bucket>.localhost``) is S3. Unsigned requests are refused in the format the client
expects: JSON when an ``X-Amz-Target`` is present, IoT's for ``/topics/...``, else S3's XML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from core.awsapi import iotdata, rekognition, s3, sigv4
from core.awsapi.credentials import CredentialStore
from core.awsapi.errors import AwsError
from core.awsapi.http import AwsRequest, authenticate, read_all
from core.awsapi.iotdata import BrokerRelay, IotDataApi
from core.awsapi.rekognition import RekognitionApi
from core.awsapi.s3 import S3Api
from core.awsapi.s3store import S3Store
from core.bootstrap import build_services
from core.bootstrap.services import Services
from core.config import Settings
from core.errors import ConfigError

log = logging.getLogger("facegate.awsapi")

_PROTOCOL = {"s3": "s3", "rekognition": "json", "iotdata": "rest-json"}
_RENDER = {"s3": s3.error_response, "json": rekognition.error_response, "rest-json": iotdata.error_response}
_INTERNAL = {
    "s3": ("InternalError", "We encountered an internal error. Please try again."),
    "json": ("InternalServerError", "Amazon Rekognition experienced a service issue. Try your call again."),
    "rest-json": ("InternalFailureException", "An unexpected error has occurred."),
}


def classify(req: AwsRequest) -> tuple[str, str]:
    """(service, protocol) of a request, before anything is verified."""
    host = (req.header("host") or "").rsplit(":", 1)[0].lower()
    if host.endswith(".localhost"):
        return "s3", "s3"
    service = sigv4.service_of(req.header("authorization"), req.query)
    if service in _PROTOCOL:
        return service, _PROTOCOL[service]
    if req.header("x-amz-target"):
        return service or "rekognition", "json"
    if req.raw_path.startswith("/topics/"):
        return service or "iotdata", "rest-json"
    return service or "s3", "s3"


class AwsEndpoint:
    """ASGI app serving S3, Rekognition and IoT Data on ``services`` (a local world)."""

    def __init__(self, settings: Settings, services: Services, relay: BrokerRelay | None = None):
        self.settings = settings
        self.services = services
        self.credentials = CredentialStore(settings.data_dir)
        self.store = S3Store(services.objects, settings.data_dir / "aws")
        self.s3 = S3Api(self.store, settings)
        self.rekognition = RekognitionApi(services)
        self.relay = relay or BrokerRelay(settings)
        self.iot = IotDataApi(self.relay)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        req = AwsRequest.of(Request(scope, receive))
        started = time.perf_counter()
        response = await self.dispatch(req)
        if req.has_body and not req.body_done:
            # Answered before the body was read (a refusal, or Expect: 100-continue never
            # granted): the client may or may not send it, so this connection cannot carry
            # another request (RFC 9110 10.1.1).
            response.headers["connection"] = "close"
        log.info(
            "%s %s %s -> %s (%s, %.0f ms)",
            req.service or "?",
            req.method,
            req.raw_path[:120],
            response.status_code,
            req.principal.name if req.principal else "unsigned",
            (time.perf_counter() - started) * 1000,
        )
        await response(scope, receive, send)

    def startup(self) -> None:
        """Before serving: abort multipart uploads left unfinished for a week (their parts may
        hold face photos)."""
        try:
            swept = self.store.sweep_stale_uploads()
            if swept:
                log.warning("aborted %d multipart uploads left unfinished for a week", swept)
        except Exception:
            log.exception("could not sweep stale multipart uploads")

    def close(self) -> None:
        self.relay.close()

    async def dispatch(self, req: AwsRequest) -> Response:
        service, protocol = classify(req)
        req.service = service
        try:
            if service not in _PROTOCOL:
                raise AwsError(
                    "NotImplemented" if protocol == "s3" else "UnknownOperationException",
                    f"FaceGate's endpoint offers S3, Rekognition and IoT Data only, not {service!r}.",
                    501 if protocol == "s3" else 400,
                )
            if protocol == "s3":
                authenticate(req, self.credentials, "s3", None)
                return await self.s3.handle(req)
            if protocol == "rest-json" and req.method == "OPTIONS":
                return Response(status_code=200, headers=iotdata.cors_headers())
            if protocol == "rest-json":
                limit = iotdata.MAX_PAYLOAD_BYTES
                too_large = AwsError("RequestEntityTooLargeException", "Payload exceeds the 128 KB limit", 413)
            else:
                limit = rekognition.MAX_BODY_BYTES
                too_large = AwsError("ImageTooLargeException", "The request is larger than Rekognition accepts", 400)
            body = await read_all(req, limit, too_large)
            body_hash = hashlib.sha256(body).hexdigest()
            declared = req.header("x-amz-content-sha256")
            if declared and declared != body_hash:
                raise AwsError(
                    *(
                        ("ForbiddenException", "x-amz-content-sha256 does not match the body", 403)
                        if protocol == "rest-json"
                        else ("InvalidSignatureException", "x-amz-content-sha256 does not match the body", 400)
                    )
                )
            authenticate(req, self.credentials, protocol, body_hash)
            if protocol == "rest-json":
                response = await self.iot.handle(req, body)
            else:
                response = await self.rekognition.handle(req, body)
            return response
        except AwsError as err:
            response = _RENDER[protocol](err, req)
        except Exception:  # never a traceback to the client
            log.exception("request %s failed", req.request_id)
            code, message = _INTERNAL[protocol]
            response = _RENDER[protocol](AwsError(code, message, 500), req)
        if protocol == "rest-json":
            response.headers.update(iotdata.cors_headers())
        return response


def build_endpoint(settings: Settings, services: Services | None = None) -> AwsEndpoint:
    """The endpoint on the local world of ``settings`` (services built when not given; the
    endpoint never publishes events itself, so they are built with the direct publisher)."""
    if settings.backend != "local":
        raise ConfigError(
            "the AWS-compatible endpoint is part of the local world; in the aws world use AWS itself "
            "(unset AWS_ENDPOINT_URL)"
        )
    if services is None:
        services = build_services(dataclasses.replace(settings, publisher="direct"))
    return AwsEndpoint(settings, services)
