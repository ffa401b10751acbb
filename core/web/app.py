"""The local stand-in for API Gateway as an ASGI app: HTTP in, the same proxy event as AWS,
``core.web.routes`` out.

What API Gateway does before the Lambda runs is done here too, with its answers: unknown
route or method -> 403 ``{"message": "Missing Authentication Token"}``; missing or bad
``x-api-key`` -> 403 ``{"message": "Forbidden"}``; over the key's rate (usage plan: 50/s,
burst 200) -> 429 ``{"message": "Too Many Requests"}``; a body over Lambda's 6 MB -> 413
``{"message": "Request Too Long"}`` (``core.web.server.LimitsMiddleware``, only once the key
is accepted). ``OPTIONS`` (CORS pre-flight) needs no key, as in the deployed API. The face work
runs on Starlette's thread pool, so the event loop keeps accepting while it computes.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from core.access.throttle import RateLimiter
from core.storage.files import storage_full
from core.web import routes
from core.web.apikeys import ApiKeyInfo, ApiKeyStore
from core.web.server import ASGIApp, Limits, LimitsMiddleware, Scope

log = logging.getLogger(__name__)

STAGE = "prod"
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def _response(proxy: dict) -> Response:
    """An API Gateway proxy response as HTTP."""
    body = proxy.get("body") or ""
    data = base64.b64decode(body) if proxy.get("isBase64Encoded") else body.encode("utf-8")
    headers = {name: str(value) for name, value in (proxy.get("headers") or {}).items()}
    return Response(data, status_code=int(proxy["statusCode"]), headers=headers)


def _gateway(status: int, message: str) -> Response:
    return _response(routes.api_gateway_response(status, message, str(uuid.uuid4())))


def gateway_refusal(status: int, message: str, scope: Scope) -> ASGIApp:
    """How API Gateway answers a request it refuses itself (413, 411, 408, 431)."""
    return _gateway(status, message)


def proxy_event(request: Request, route: str, body: bytes, request_id: str, key: ApiKeyInfo | None) -> dict:
    """The API Gateway REST proxy event (format 1.0) for this request."""
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi.setdefault(name, []).append(value)
    query = parse_qsl(request.url.query, keep_blank_values=True)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": f"/{route}",
        "path": f"/{route}",
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": f"/{route}",
            "httpMethod": request.method,
            "path": f"/{STAGE}/{route}",
            "stage": STAGE,
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "sourceIp": request.client.host if request.client else None,
                "userAgent": request.headers.get("user-agent"),
                "apiKeyId": key.key_id if key else None,
            },
        },
        "body": text or None,
        "isBase64Encoded": is_b64,
    }


def create_app(services: routes.ApiBackend, keys: ApiKeyStore | None = None, limits: Limits | None = None) -> ASGIApp:
    """The Web API on ``services`` behind the gateway's checks and the server limits.
    ``keys`` defaults to the data directory's key store. Each process (worker) counts the
    rate limit on its own, so the limit is per key per worker."""
    s = services.settings
    keys = keys or ApiKeyStore(s.data_dir)
    limiter = RateLimiter(s.api_rate_per_second, s.api_burst)

    async def endpoint(request: Request) -> Response:
        try:
            return await _handle(request)
        except ClientDisconnect:  # gone, or its body was refused (and answered) by the limits
            return Response(status_code=400)
        except Exception as exc:  # never a traceback to the client
            if storage_full(exc, s.data_dir) is not None:  # a full disk: 503 and a plain reason
                return _response(routes.error_response(exc, str(uuid.uuid4()), services=services))
            log.exception("API server error")
            return _response(routes.proxy_response(500, {"message": "Internal server error"}, str(uuid.uuid4())))

    async def _handle(request: Request) -> Response:
        route = routes.route_of(request.url.path)
        method = request.method.upper()
        if route is None or method not in ("POST", "OPTIONS"):
            return _gateway(403, "Missing Authentication Token")
        key = None
        if method == "POST":
            try:
                key = keys.verify(request.headers.get("x-api-key"))
            except Exception:  # a broken key store locks out, never lets in
                log.exception("API key check failed")
            if key is None:
                return _gateway(403, "Forbidden")
            if not limiter.allow(key.key_id):
                return _gateway(429, "Too Many Requests")
        body = await request.body()  # the limits middleware refuses a body too large or too slow
        event = proxy_event(request, route, body, str(uuid.uuid4()), key)
        return _response(await run_in_threadpool(routes.handle_route, route, event, services))

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])
    return LimitsMiddleware(app, limits or Limits(), gateway_refusal)


def describe(url: str, keys: ApiKeyStore) -> str:
    """One line for humans: where the API listens and how many keys can use it."""
    active = [k for k in keys.list() if k.revoked is None]
    hint = "" if active else " (no API key yet: python -m core api-key create)"
    return json.dumps({"api": url, "routes": ["/search", "/analyze"], "active_keys": len(active)}) + hint
