"""``python -m core app ...``: open the app from a phone (LAN URL, QR code, HTTPS)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from core.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _settings() -> Settings:
    return load_settings()


def forwarded_allow_ips(settings) -> str:
    """``FACEGATE_TRUSTED_PROXIES`` as uvicorn's ``FORWARDED_ALLOW_IPS`` (comma-separated, no
    spaces). Streamlit serves the app with uvicorn, whose default believes ``X-Forwarded-For``
    from loopback: any local process, or a client reaching the app through nothing at all on
    this machine, could then choose the address that sign-in throttling counts it under."""
    return ",".join(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())


def _print_qr(url: str) -> None:
    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(url)
    qr.print_ascii(out=sys.stdout, invert=True)


def _url(args) -> dict:
    from core.app.lan import app_url

    s = _settings()
    url = app_url(s.app_port, https=args.https)
    if not args.no_qr:
        _print_qr(url)
    return {"url": url}


def _cert(_args) -> dict:
    from core.app.lan import ensure_certificate

    cert, key = ensure_certificate(_settings().data_dir)
    return {"cert": str(cert), "key": str(key)}


def _run(args) -> int:
    """``streamlit run streamlit_asgi.py <options>`` (the app with its security headers) in this
    process, after starting the app's warm-up (``core.usecases.warmup``) beside the server's own
    start-up, so that the first visitor does not pay for imports, face models and the analytics
    copy."""
    import logging
    import threading

    from streamlit.web import cli as streamlit_cli

    from core.errors import FaceGateError
    from core.storage.memory import limit_malloc_arenas
    from core.usecases.warmup import warm_up

    # Before any thread: Streamlit runs each script run on a new thread (core.storage.memory).
    limit_malloc_arenas()

    def warm() -> None:
        # Outside a script run Streamlit warns about a missing ScriptRunContext; expected here.
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
        try:
            warm_up(load_settings())
        except FaceGateError:
            pass  # the page will show the reason to the user
        except Exception:  # a failed warm-up only means a slower first page
            logging.getLogger("facegate.app").exception("warm-up failed; the first page will do it")

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # Read by uvicorn.Config when Streamlit builds it: only these proxies' forwarding headers count.
    os.environ["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips(_settings())
    threading.Thread(target=warm, name="facegate-warm-up", daemon=True).start()
    options = [o for o in args.options if o != "--"]
    # streamlit_asgi.py: the same app with security headers (core.app.headers).
    sys.argv = ["streamlit", "run", str(ROOT / "streamlit_asgi.py"), *options]
    return streamlit_cli.main()


def app_command(*options: str) -> list[str]:
    """The command line that serves the app (``serve``, ``app https`` and the tests use it)."""
    return [sys.executable, "-m", "core", "app", "run", "--", *options]


def _https(args) -> int:
    """Serve the app over HTTPS on ``--host`` with the project's self-signed certificate; in the
    local world also run the rest of the stack (``serve --no-ui``: broker, rules, Web API, all
    on loopback). Returns the app's exit code."""
    from core.app.lan import app_url, ensure_certificate

    s = _settings()
    cert, key = ensure_certificate(s.data_dir)
    url = app_url(s.app_port, https=True)
    print(f"FaceGate app over HTTPS: {url}\n(self-signed: the phone asks once to trust it)", flush=True)
    _print_qr(url)
    env = dict(os.environ)
    env.setdefault("FACEGATE_PUBLISHER", "mqtt" if s.backend == "local" and not args.no_stack else "direct")
    stack = None
    if s.backend == "local" and not args.no_stack:
        stack = subprocess.Popen([sys.executable, "-m", "core", "serve", "--no-ui"], cwd=ROOT, env=env)
    try:
        return subprocess.call(
            app_command(
                "--server.address",
                args.host,
                "--server.port",
                str(s.app_port),
                "--server.sslCertFile",
                str(cert),
                "--server.sslKeyFile",
                str(key),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ),
            cwd=ROOT,
            env=env,
        )
    except KeyboardInterrupt:
        return 130
    finally:
        if stack is not None and stack.poll() is None:
            stack.terminate()
            try:
                stack.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stack.kill()


def add_parser(sub) -> None:
    app = sub.add_parser("app", help="the app on a phone: LAN URL and QR code, HTTPS certificate, HTTPS serving")
    cmds = app.add_subparsers(dest="command", required=True)

    p = cmds.add_parser("url", help="print the app's LAN URL (and a QR code of it)")
    p.add_argument("--https", action="store_true", help="the https:// URL (make run-https)")
    p.add_argument("--no-qr", action="store_true")
    p.set_defaults(func=_url)

    p = cmds.add_parser("cert", help="create (or reuse) the app's self-signed TLS certificate")
    p.set_defaults(func=_cert)

    p = cmds.add_parser(
        "run",
        help="serve the app (streamlit run streamlit_asgi.py OPTIONS: the app with security headers), warmed up",
    )
    p.add_argument("options", nargs=argparse.REMAINDER, help="streamlit's options, after --")
    p.set_defaults(func=_run)

    p = cmds.add_parser("https", help="serve the app over HTTPS on the LAN so a phone may use its camera")
    p.add_argument(
        "--host",
        default="0.0.0.0",
        help="address the app listens on (default: every interface, so a phone can reach it)",
    )
    p.add_argument(
        "--no-stack", action="store_true", help="only the app (logs go straight to the local store, no broker)"
    )
    p.set_defaults(func=_https)
