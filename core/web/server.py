"""Serving an ASGI app (Starlette) over HTTP with uvicorn, with the limits every FaceGate
endpoint needs before any work is done.

``serve(app, host, port, workers=N)`` binds the address itself (so "address in use" is a clear
``ServiceUnavailable``, and port 0 is resolved before ``on_ready`` runs), then runs uvicorn in
this process (one worker) or under uvicorn's process supervisor (N workers sharing the socket;
SIGTERM / Ctrl+C shut them down gracefully). ``BackgroundServer`` runs one in a thread of this
process (tests, embedding). Plain HTTP by default, like the course's local tools; ``tls``
(certificate and key files) serves HTTPS, for devices on a LAN (the AWS-compatible endpoint's
``--https``).

What a client can make the server hold, whatever it sends (``Limits``):

* a request head of at most ``max_head_bytes`` (h11 refuses one that grows longer with 400 and
  closes, so a trickled 64 KB header line never accumulates; one that arrives whole in one read
  is answered 431) and at most ``max_headers`` header lines (431);
* ``head_timeout_s`` to send a whole request head, on a new connection and between requests on
  a kept-alive one (uvicorn has a keep-alive timer but none for a head that trickles in: the
  slow-loris case, so ``_GuardedH11Protocol`` adds it);
* a body of at most ``max_body_bytes`` with a declared length (413 before it is read; 411 for a
  chunked body), read within ``body_timeout_s`` (408) — checked when the app first asks for
  the body, so an app can refuse a request (no key, unknown route) without reading it;
* at most ``max_concurrency`` connections and requests in flight (uvicorn answers 503 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors.multiprocess import Multiprocess

from core.errors import InvalidParameter, ServiceUnavailable

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (status, message, scope) -> the ASGI app that answers a refused request
Refusal = Callable[[int, str, Scope], ASGIApp]
# (certificate file, key file) for HTTPS
TLS = tuple[Path, Path]


@dataclass(frozen=True)
class Limits:
    max_head_bytes: int = 16 * 1024  # request line + headers (API Gateway REST allows 10 KB of headers)
    max_headers: int = 100  # what http.client and most servers accept
    max_body_bytes: int = 6 * 1024 * 1024  # Lambda's synchronous payload limit
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0  # API Gateway gives up after 29 s
    keep_alive_s: int = 5
    max_concurrency: int = 128
    backlog: int = 1024
    graceful_shutdown_s: int = 10
    # A chunked body (no Content-Length) is refused with 411 unless allowed; then its size is
    # counted as it arrives (413 past max_body_bytes). S3 clients stream uploads this way.
    allow_chunked: bool = False


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head.

    uvicorn arms a timer only after a response (keep-alive) and cancels it on any byte, so a
    client trickling one header byte at a time would hold its connection for ever. Here a
    timer is armed when the connection opens and after every response; if no new request head
    has arrived when it fires, the connection is closed. Subclassing is the supported way to
    give uvicorn a protocol (``Config(http=<class>)``); the timeout travels on the config,
    which uvicorn sends to its worker processes."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        timeout = getattr(self.config, "head_timeout_s", Limits.head_timeout_s)
        # A new request head replaces ``self.cycle``: if it is still this one, none came.
        self._head_timer = self.loop.call_later(timeout, self._head_timed_out, self.cycle)

    def _head_timed_out(self, cycle_when_armed: object) -> None:
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            self.transport.close()


def json_refusal(status: int, message: str, scope: Scope) -> ASGIApp:
    """The default answer to a refused request: ``{"message": ...}`` with the status."""
    body = json.dumps({"message": message}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class LimitsMiddleware:
    """Header count and size, body size and body time limits around any ASGI app (see the
    module doc), and a clean end for a request whose body the app did not read.

    The body limits are checked when the app first asks for the body, so the app may refuse a
    request (no key, unknown route) without it being read. A refused body is answered here
    (``refusal`` shapes the answer: 413, 411, 408, 431; default ``json_refusal``) and the app
    then sees the client as gone (``http.disconnect``); what it sends after that is dropped.

    Whenever an answer goes out before the request body was read, the rest of the body is read
    and dropped (up to ``LINGER_BYTES``, for ``LINGER_S``) after the answer is written and
    before the response ends: closing a socket with unread data resets it, and the client
    (urllib sends ``Connection: close``) would see a broken pipe instead of the answer."""

    LINGER_S = 2.0
    LINGER_BYTES = 16 * 1024 * 1024

    def __init__(self, app: ASGIApp, limits: Limits, refusal: Refusal = json_refusal):
        self.app, self.limits, self.refusal = app, limits, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(scope, receive, send, self)
        headers = scope["headers"]
        # h11 refuses a head that grows past max_head_bytes while incomplete; one that arrived
        # whole in a single read is measured here.
        if len(headers) > self.limits.max_headers or sum(len(k) + len(v) + 4 for k, v in headers) > (
            self.limits.max_head_bytes
        ):
            await request.refuse(431, "Request Header Fields Too Large")
            return
        try:
            await self.app(scope, request.receive, request.send)
        except Exception:
            if not request.refused:
                raise
            # The app failed on the body it was refused (e.g. Starlette's ClientDisconnect).


class _Request:
    """One request's state inside LimitsMiddleware."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, middleware: LimitsMiddleware):
        self.scope, self._receive, self._send, self.mw = scope, receive, send, middleware
        self.limits = middleware.limits
        self.length: int | None = None
        self.chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                self.length = int(value)  # h11 has checked that it is a number
            elif name == b"transfer-encoding":
                self.chunked = True
        self.body_done = not self.chunked and not self.length  # nothing to read
        self.started = self.refused = self.timed_out = False
        self.deadline: float | None = None
        self.received = 0

    async def _read(self, timeout: float) -> Message:
        message = await asyncio.wait_for(self._receive(), timeout=max(timeout, 0.001))
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            if self.length is None and self.chunked and not self.limits.allow_chunked:
                return await self.refuse(411, "Length Required")
            if self.length is not None and self.length > self.limits.max_body_bytes:
                return await self.refuse(413, "Request Too Long")
            self.deadline = loop.time() + self.limits.body_timeout_s
        try:
            message = await self._read(self.deadline - loop.time())
        except TimeoutError:
            self.timed_out = True
            return await self.refuse(408, "Request Timeout")
        self.received += len(message.get("body", b""))
        if self.received > self.limits.max_body_bytes:  # a chunked body that grew too long
            return await self.refuse(413, "Request Too Long")
        return message

    async def refuse(self, status: int, message: str) -> Message:
        self.refused = True
        if not self.started:
            await self.mw.refusal(status, message, self.scope)(self.scope, self._receive, self._out)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if not self.refused:  # once refused and answered, the app's late reply is dropped
            await self._out(message)

    async def _out(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if self.timed_out:  # the body never came: do not wait for it on this connection
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        elif message["type"] == "http.response.body" and not message.get("more_body", False) and not self.body_done:
            if message.get("body"):
                await self._send({**message, "more_body": True})  # the client has its answer now
            await self._drain()
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self._send(message)

    async def _drain(self) -> None:
        if self.timed_out or (self.length or 0) > self.mw.LINGER_BYTES:
            return
        loop = asyncio.get_running_loop()
        end, dropped = loop.time() + self.mw.LINGER_S, 0
        while not self.body_done and dropped <= self.mw.LINGER_BYTES:
            try:
                dropped += len((await self._read(end - loop.time())).get("body", b""))
            except TimeoutError:
                return


def _config(
    app: ASGIApp | str, limits: Limits, *, workers: int, factory: bool, refusal: Refusal, tls: TLS | None = None
) -> uvicorn.Config:
    if not isinstance(app, (str, LimitsMiddleware)):
        app = LimitsMiddleware(app, limits, refusal)
    config = uvicorn.Config(
        app,
        http=_GuardedH11Protocol,
        h11_max_incomplete_event_size=limits.max_head_bytes,
        limit_concurrency=limits.max_concurrency,
        backlog=limits.backlog,
        timeout_keep_alive=limits.keep_alive_s,
        timeout_graceful_shutdown=limits.graceful_shutdown_s,
        # The face engine can hold the GIL for seconds under load; a worker is not hung then.
        timeout_worker_healthcheck=60,
        workers=workers,
        factory=factory,
        lifespan="off",
        ws="none",
        interface="asgi3",
        proxy_headers=False,
        server_header=False,
        log_config=None,  # the process's own logging; uvicorn adds no handlers
        log_level="error",  # client protocol errors (bad heads, timeouts) are not the operator's
        access_log=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    config.head_timeout_s = limits.head_timeout_s  # type: ignore[attr-defined]  # read by _GuardedH11Protocol
    return config


def bind(host: str, port: int, backlog: int = Limits.backlog) -> socket.socket:
    """A listening TCP socket (SO_REUSEADDR; port 0 = any free port). Raises
    ServiceUnavailable when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns on TCP_NODELAY only for sockets whose proto says TCP
    # (accepted sockets inherit it). Without it uvicorn's separate header and body writes wait
    # for the client's delayed ACK: ~45 ms on every response (bench/api.py's "plumbing" line).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)  # connections queue from now on, while workers start
    except OSError as exc:
        sock.close()
        raise ServiceUnavailable(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, https: bool = False) -> str:
    host, port = sock.getsockname()[:2]
    return f"{'https' if https else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


def serve(
    app: ASGIApp | str,
    host: str,
    port: int,
    *,
    workers: int = 1,
    limits: Limits | None = None,
    factory: bool = False,
    refusal: Refusal = json_refusal,
    on_ready: Callable[[str], None] | None = None,
    tls: TLS | None = None,
) -> None:
    """Serve ``app`` until SIGTERM / SIGINT, then shut down gracefully.

    ``app`` is an ASGI app, or (required for ``workers`` > 1, whose processes import it) an
    import string ``"module:attr"``, called with no arguments when ``factory`` is true. An app
    object is put behind ``LimitsMiddleware`` (``limits``, ``refusal``) unless it already is;
    an app given by import string must be (``limited``).
    ``on_ready(url)`` runs once the socket listens. Raises ServiceUnavailable when the address
    cannot be bound, InvalidParameter for ``workers`` outside 1-16."""
    if not isinstance(workers, int) or not 1 <= workers <= 16:
        raise InvalidParameter("workers must be from 1 to 16")
    if workers > 1 and not isinstance(app, str):
        raise InvalidParameter("several workers need the app as an import string (module:attr)")
    limits = limits or Limits()
    config = _config(app, limits, workers=workers, factory=factory, refusal=refusal, tls=tls)
    sock = bind(host, port, limits.backlog)
    try:
        if on_ready is not None:
            on_ready(url_of(sock, https=tls is not None))
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def limited(app: ASGIApp, limits: Limits | None = None, refusal: Refusal = json_refusal) -> ASGIApp:
    """``app`` behind ``LimitsMiddleware``: what a factory given to ``serve`` by import string
    returns (``serve`` adds it itself to an app object)."""
    return LimitsMiddleware(app, limits or Limits(), refusal)


class BackgroundServer:
    """``app`` served by uvicorn on a thread of this process (tests, embedding):
    ``with BackgroundServer(app) as server: ... server.url``."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: Limits | None = None,
        refusal: Refusal = json_refusal,
        tls: TLS | None = None,
    ):
        limits = limits or Limits()
        self._sock = bind(host, port, limits.backlog)
        self.url = url_of(self._sock, https=tls is not None)
        self._server = uvicorn.Server(_config(app, limits, workers=1, factory=False, refusal=refusal, tls=tls))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            self.stop()
            raise ServiceUnavailable(f"the server on {self.url} did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(app: ASGIApp, **kwargs: Any) -> Iterator[BackgroundServer]:
    """``BackgroundServer(app, **kwargs)`` for the length of a ``with`` block."""
    with BackgroundServer(app, **kwargs) as server:
        yield server
