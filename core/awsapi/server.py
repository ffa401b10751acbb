"""Serving the endpoint with uvicorn: ``run_aws_endpoint`` (foreground, until SIGTERM/SIGINT)
for ``python -m core aws-endpoint`` and ``serve``; ``ServerThread`` for tests and benchmarks.

The limits are the Web API's (header block size, keep-alive, graceful stop); the body limits
are per protocol and enforced while reading (``core.awsapi.http``), because S3 takes
gigabytes where Rekognition takes megabytes.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from core.errors import ServiceUnavailable

log = logging.getLogger("facegate.awsapi")

# Shared with the Web API: what one client may make the server hold.
MAX_HEADER_BYTES = 16 * 1024
KEEP_ALIVE_S = 5
MAX_CONCURRENT = 256
GRACEFUL_STOP_S = 10


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0 = any free port). Raises ServiceUnavailable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceUnavailable(
            f"cannot serve the AWS-compatible endpoint on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app, tls: tuple[Path, Path] | None = None) -> uvicorn.Config:
    kwargs = {}
    if tls is not None:
        kwargs = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])}
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=MAX_CONCURRENT,
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
        server_header=False,
        date_header=True,
        **kwargs,
    )


def endpoint_url(sock: socket.socket, https: bool = False) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if https else 'http'}://{host}:{port}"


def run_aws_endpoint(
    settings, host: str | None = None, port: int | None = None, https: bool = False, on_ready=None
) -> None:
    """Serve the endpoint until SIGTERM/SIGINT. ``on_ready(url)`` once the socket is bound.
    ``https`` serves TLS with the app's self-signed certificate (core.app.lan), for devices on the
    LAN. Raises ServiceUnavailable when the port is taken, ConfigError in the aws world."""
    from core.awsapi.app import build_endpoint

    host = settings.bind_host if host is None else host
    port = settings.aws_port if port is None else port
    sock = bind(host, port)
    tls = None
    if https:
        from core.app.lan import ensure_certificate

        tls = ensure_certificate(settings.data_dir)
    app = build_endpoint(settings)
    server = uvicorn.Server(uvicorn_config(app, tls))
    if on_ready:
        on_ready(endpoint_url(sock, https))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The endpoint (or any ASGI app) under uvicorn in a background thread, on a free port.
    ``url``; ``stop()``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, tls: tuple[Path, Path] | None = None):
        self.app = app
        self.sock = bind(host, port)
        self.url = endpoint_url(self.sock, tls is not None)
        self.server = uvicorn.Server(uvicorn_config(app, tls))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise ServiceUnavailable("the endpoint did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
