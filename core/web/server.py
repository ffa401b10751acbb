"""The local stand-in for API Gateway: HTTP in, the same proxy event as AWS, ``core.web.routes`` out.

What API Gateway does before the Lambda runs is done here too, with its answers:
unknown route or method -> 403 ``{"message": "Missing Authentication Token"}``; missing or
bad ``x-api-key`` -> 403 ``{"message": "Forbidden"}``; a body over Lambda's 6 MB -> 413
``{"message": "Request Too Long"}``; over the key's rate (usage plan: 50/s, burst 200) ->
429 ``{"message": "Too Many Requests"}``. ``OPTIONS`` (CORS pre-flight) needs no key, as in the
deployed API. Requests are served on threads (one per connection).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from core.errors import InvalidParameter, ServiceUnavailable
from core.web import routes
from core.web.apikeys import ApiKeyStore
from core.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)

STAGE = "prod"
READ_TIMEOUT_S = 30  # API Gateway gives up after 29 s; a stalled client must not hold a thread
LINGER_S = 2.0  # how long a refused body is read and dropped before closing
MAX_LINGER_BYTES = 16 * 1024 * 1024


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # 16+ clients connecting at once must not hit the default backlog of 5

    def __init__(self, address, services, keys: ApiKeyStore):
        self.services = services
        self.keys = keys
        self._limiter: RateLimiter | None = None
        self._limiter_lock = threading.Lock()
        super().__init__(address, _Handler)

    @property
    def limiter(self) -> RateLimiter:
        """API Gateway's usage-plan throttle, per key (core.web.ratelimit); built on first use
        because a prefork worker gets its services after the fork. Each worker process
        counts on its own, so the limit is per key per worker."""
        with self._limiter_lock:
            if self._limiter is None:
                s = self.services.settings
                self._limiter = RateLimiter(s.api_rate_per_second, s.api_burst)
            return self._limiter

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaceGateAPI"
    timeout = READ_TIMEOUT_S
    _linger: int | None | bool = False  # bytes of a refused body still to drop (False: none)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:  # no Python version in the Server header
        return self.server_version

    def log_message(self, fmt, *args):  # route the access log through logging, not stderr
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, response: dict) -> None:
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        self.send_response(int(response["statusCode"]))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        # Headers and body in one write: two small writes meet delayed ACKs and cost ~40 ms.
        self._headers_buffer.append(b"\r\n")  # what end_headers() would add
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    def _gateway_answer(self, status: int, message: str, request_id: str) -> None:
        self._send(routes.api_gateway_response(status, message, request_id))
        if self._linger is not False:
            self._discard_unread(self._linger)
            self._linger = False

    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        parts = urlsplit(self.path)
        route = routes.route_of(parts.path)
        method = self.command.upper()
        if route is None or method not in ("POST", "OPTIONS"):
            self._drain_small_body()
            return self._gateway_answer(403, "Missing Authentication Token", request_id)
        key_info = None
        if method == "POST":
            try:
                key_info = self.server.keys.verify(self.headers.get("x-api-key"))
            except Exception:  # noqa: BLE001 - a broken key store locks out, never lets in
                log.exception("API key check failed")
            if key_info is None:
                self._drain_small_body()
                return self._gateway_answer(403, "Forbidden", request_id)
            if not self.server.limiter.allow(key_info.key_id):
                self._drain_small_body()
                return self._gateway_answer(429, "Too Many Requests", request_id)
        body = self._read_body(request_id)
        if body is None:
            return
        event = self._event(route, parts, method, body, request_id, key_info)
        self._send(routes.handle_route(route, event, self.server.services))

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0 if self.headers.get("Transfer-Encoding") is None else None
        try:
            n = int(raw)
        except ValueError:
            return None
        return n if n >= 0 else None

    def _drain_small_body(self) -> None:
        # Keep the connection usable for the next request when the body is cheap to skip.
        n = self._content_length()
        if n is not None and n <= 64 * 1024:
            self.rfile.read(n)
        else:
            self.close_connection = True
            self._linger = n

    def _discard_unread(self, n: int | None) -> None:
        """After refusing a body: half-close, then read (and drop) what the client still sends
        for a moment, so closing with unread data does not reset the connection before the
        client has read our answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            deadline = time.monotonic() + LINGER_S
            left = n if n is not None else MAX_LINGER_BYTES
            while left > 0 and time.monotonic() < deadline:
                chunk = self.connection.recv(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _read_body(self, request_id: str) -> bytes | None:
        n = self._content_length()
        if n is None:
            self.close_connection = True
            self._gateway_answer(411, "Length Required", request_id)
            self._discard_unread(None)
            return None
        if n > routes.MAX_BODY_BYTES:
            self.close_connection = True  # do not parse 6 MB+ just to refuse it
            self._gateway_answer(413, "Request Too Long", request_id)
            self._discard_unread(n)
            return None
        return self.rfile.read(n) if n else b""

    def _event(self, route, parts, method, body: bytes, request_id, key_info) -> dict:
        """The API Gateway REST proxy event (format 1.0) for this request."""
        headers, multi = {}, {}
        for name, value in self.headers.items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        query = parse_qsl(parts.query, keep_blank_values=True)
        try:
            text, is_b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
        return {
            "resource": f"/{route}",
            "path": f"/{route}",
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": f"/{route}",
                "httpMethod": method,
                "path": f"/{STAGE}/{route}",
                "stage": STAGE,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {
                    "sourceIp": self.client_address[0],
                    "userAgent": self.headers.get("User-Agent"),
                    "apiKeyId": key_info.key_id if key_info else None,
                },
            },
            "body": text or None,
            "isBase64Encoded": is_b64,
        }

    def _safe_handle(self) -> None:
        try:
            self._handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - never a traceback to the client
            log.exception("API server error")
            self.close_connection = True
            try:
                self._send(routes.proxy_response(500, {"message": "Internal server error"}, str(uuid.uuid4())))
            except Exception:  # noqa: BLE001
                pass

    do_POST = do_OPTIONS = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _safe_handle


class _NotYet:
    """Stands in for services until each worker builds its own after the fork (SQLite
    connections and models must not cross a fork); only ``settings`` is read before then."""

    def __init__(self, settings):
        self.settings = settings


_NOT_YET = object()


def serve_api(settings, host: str | None = None, port: int | None = None, services=None) -> ApiServer:
    """Bind the local Web API (not yet serving). Call ``serve_forever()`` on the result (or run
    it in a thread) and ``shutdown()`` + ``server_close()`` to stop. ``port=0`` picks a free
    port; ``server.url`` says where it listens. Builds services from ``settings`` unless given.
    Raises ServiceUnavailable when the address cannot be bound (e.g. the port is taken)."""
    if services is None:
        from core.bootstrap import build_services

        services = build_services(settings)
    elif services is _NOT_YET:
        services = _NotYet(settings)
    host = settings.bind_host if host is None else host
    port = settings.api_port if port is None else port
    try:
        return ApiServer((host, port), services, ApiKeyStore(settings.data_dir))
    except OSError as exc:
        raise ServiceUnavailable(f"cannot serve the Web API on {host}:{port}: {exc.strerror or exc}") from None


def run_api(settings, host: str | None = None, port: int | None = None, workers: int = 1, on_ready=None) -> None:
    """Serve until SIGTERM/SIGINT with ``workers`` processes sharing one listening socket.

    The face engine holds the GIL while it computes, so threads alone use one core: extra
    worker processes are what make a second core useful (each loads its own models, ~0.5 GB).
    ``on_ready(server)`` is called once the socket is bound. Raises ServiceUnavailable when
    the address cannot be bound, InvalidParameter for ``workers`` outside 1-16."""
    if not isinstance(workers, int) or not 1 <= workers <= 16:
        raise InvalidParameter("workers must be from 1 to 16")
    from core.bootstrap import build_services

    server = serve_api(settings, host, port, services=_NOT_YET)
    if on_ready:
        on_ready(server)
    children = []
    for _ in range(workers - 1):
        pid = os.fork()  # before any thread or model exists in this process
        if pid == 0:
            _exit_with_parent()
            try:
                server.services = build_services(settings)
                server.serve_forever()
            finally:
                os._exit(0)
        children.append(pid)

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.services = build_services(settings)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _exit_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(0)


def describe(server: ApiServer) -> str:
    """One line for humans: where the API listens and how many keys can use it."""
    active = [k for k in server.keys.list() if k.revoked is None]
    hint = "" if active else " (no API key yet: python -m core api-key create)"
    return json.dumps({"api": server.url, "routes": ["/search", "/analyze"], "active_keys": len(active)}) + hint
