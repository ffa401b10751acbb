"""Serving the endpoint: ``run_aws_endpoint`` (foreground, until SIGTERM/SIGINT) for
``python -m core aws-endpoint`` and ``serve``; ``ServerThread`` for tests and benchmarks.

Both use the project's one server (``core.web.server``: uvicorn behind the Web API's limits on
the request head, header count, connections and slow clients). What differs is the body:
S3 takes gigabytes, streamed to disk, where Rekognition takes megabytes and IoT 128 KB, so each
protocol checks its own limit while reading (``core.awsapi.http``), with a 30 s limit on each
read; the shared server's limits are set for the largest S3 upload. A request the shared server
refuses before the app sees it (413, 411, 408, 431) is answered in the client's protocol.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request

from core.app.lan import ensure_certificate
from core.awsapi.app import _RENDER, AwsEndpoint, build_endpoint, classify
from core.awsapi.errors import AwsError
from core.awsapi.http import AwsRequest
from core.awsapi.s3 import MAX_OBJECT_BYTES
from core.web.server import BackgroundServer, Limits, serve

log = logging.getLogger("facegate.awsapi")

LIMITS = Limits(
    max_body_bytes=MAX_OBJECT_BYTES + 64 * 1024 * 1024,  # a 5 GiB part plus its aws-chunked framing
    body_timeout_s=6 * 3600.0,  # a whole 5 GiB upload; idle clients are cut after 30 s per read
    allow_chunked=True,  # botocore streams aws-chunked uploads over HTTPS with Transfer-Encoding: chunked
)

_REFUSED = {  # shared server's status -> (S3 code, S3 status)
    413: ("EntityTooLarge", 400),
    411: ("MissingContentLength", 411),
    408: ("RequestTimeout", 400),
    431: ("RequestHeaderSectionTooLarge", 400),
}


def refusal(status: int, message: str, scope):
    """The shared server's refusals as AWS words them, in the client's protocol."""

    req = AwsRequest.of(Request(scope))
    _service, protocol = classify(req)
    if protocol == "s3":
        code, s3_status = _REFUSED.get(status, ("InvalidRequest", 400))
        err = AwsError(code, message, s3_status)
    elif protocol == "rest-json":
        err = AwsError(
            "RequestEntityTooLargeException" if status == 413 else "InvalidRequestException", message, status
        )
    else:
        err = AwsError("ImageTooLargeException" if status == 413 else "InvalidParameterException", message, 400)
    response = _RENDER[protocol](err, req)
    response.headers["connection"] = "close"
    return response


def run_aws_endpoint(
    settings, host: str | None = None, port: int | None = None, https: bool = False, on_ready=None
) -> None:
    """Serve the endpoint until SIGTERM/SIGINT. ``on_ready(url)`` once the socket is bound.
    ``https`` serves TLS with the app's self-signed certificate (core.app.lan), for devices on
    the LAN. Raises ServiceUnavailable when the port is taken, ConfigError in the aws world."""

    host = settings.bind_host if host is None else host
    port = settings.aws_port if port is None else port
    tls = None
    if https:
        tls = ensure_certificate(settings.data_dir)
    app = build_endpoint(settings)
    app.startup()
    try:
        serve(app, host, port, limits=LIMITS, refusal=refusal, on_ready=on_ready, tls=tls)
    finally:
        app.close()


class ServerThread(BackgroundServer):
    """The endpoint (an ``AwsEndpoint``) served on a thread of this process, on a free port,
    started: ``url``, ``stop()``."""

    def __init__(self, app: AwsEndpoint, host: str = "127.0.0.1", port: int = 0, tls: tuple[Path, Path] | None = None):
        super().__init__(app, host, port, limits=LIMITS, refusal=refusal, tls=tls)
        app.startup()
        self.start()
