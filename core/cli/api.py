"""``python -m core api`` (the local Web API) and ``python -m core api-key ...`` (its keys)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from core.config import Settings, load_settings
from core.web.apikeys import ApiKeyStore

if TYPE_CHECKING:
    from core.web.server import ASGIApp


def _settings() -> Settings:
    return load_settings()


def _keys() -> ApiKeyStore:
    return ApiKeyStore(_settings().data_dir)


def asgi_app() -> ASGIApp:
    """The Web API on this process's services: what each server process (worker) imports and
    calls once (``serve(..., factory=True)``), so models and SQLite connections are its own."""
    from core.bootstrap import build_services
    from core.web.app import create_app

    return create_app(build_services(_settings()))


def _serve(args) -> int:
    from core.web.app import describe
    from core.web.server import serve

    settings = _settings()
    keys = ApiKeyStore(settings.data_dir)
    serve(
        f"{__name__}:asgi_app",
        settings.bind_host if args.host is None else args.host,
        settings.api_port if args.port is None else args.port,
        workers=args.workers,
        factory=True,
        on_ready=lambda url: print(describe(url, keys), file=sys.stderr, flush=True),
    )
    return 0


def _create(args) -> int:
    info, key = _keys().create(args.name)
    print(f"key_id={info.key_id} name={info.name} (shown once; only its hash is stored)", file=sys.stderr)
    print(key)  # alone on the last line of stdout, for scripts: KEY=$(... | tail -n1)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("api", help="serve the Web API (/search, /analyze) over HTTP")
    p.add_argument("--host", default=None, help="address to bind (default FACEGATE_BIND_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default FACEGATE_API_PORT; 0 = any free port)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (the face engine uses one core per process; ~0.5 GB each)",
    )
    p.set_defaults(func=_serve)

    keys = sub.add_parser("api-key", help="API keys of the local Web API (stored hashed)")
    cmds = keys.add_subparsers(dest="command", required=True)
    p = cmds.add_parser("create", help="make a key; prints it once, alone on the last line")
    p.add_argument("--name", default="default")
    p.set_defaults(func=_create)
    p = cmds.add_parser("revoke", help="revoke a key by its id (see list)")
    p.add_argument("key_id")
    p.set_defaults(func=lambda a: _keys().revoke(a.key_id).public())
    p = cmds.add_parser("list", help="key ids, names and dates (never the keys)")
    p.set_defaults(func=lambda a: [k.public() for k in _keys().list()])
