"""``python -m core serve [--no-ui]``: the whole local stack — MQTT broker and rule engine (in
this process), the local Web API, the AWS-compatible endpoint and the app (child processes) —
until Ctrl+C.

The children publish through MQTT and the outbox (``FACEGATE_PUBLISHER=mqtt`` unless set).
In the aws world the broker and rules are IoT Core's, so only the app is started.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger("facegate.serve")
ROOT = Path(__file__).resolve().parents[2]


def _children(settings, *, ui: bool, api: bool, aws: bool = False) -> list[tuple[str, list[str]]]:
    out = []
    if api and settings.backend == "local":
        if importlib.util.find_spec("core.web.server") is not None:
            out.append(("web api", [sys.executable, "-m", "core", "api"]))
        else:
            log.warning("the local Web API is not in this checkout (core/web/server.py); serving without it")
    if aws and settings.backend == "local":
        # A process of its own: the face engine holds the GIL for ~150 ms per image, which
        # would stall the broker if Rekognition calls ran in this one.
        out.append(("aws endpoint", [sys.executable, "-m", "core", "aws-endpoint"]))
    if ui:
        from core.cli.app import app_command

        out.append(
            (
                "app",
                app_command(
                    "--server.address",
                    settings.bind_host,
                    "--server.port",
                    str(settings.app_port),
                    "--server.headless",
                    "true",
                    "--browser.gatherUsageStats",
                    "false",
                ),
            )
        )
    return out


def _start(children) -> list[tuple[str, subprocess.Popen]]:
    env = dict(os.environ)
    env.setdefault("FACEGATE_PUBLISHER", "mqtt")
    procs = []
    for name, cmd in children:
        procs.append((name, subprocess.Popen(cmd, cwd=ROOT, env=env)))
        log.warning("started %s (pid %s)", name, procs[-1][1].pid)
    return procs


def _stop(procs) -> None:
    for _name, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for name, proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in 10 s; killing it", name)
            proc.kill()
            proc.wait()


def _serve(args) -> int:
    import signal

    from core.cli.iot import run_stack
    from core.config import load_settings

    logging.getLogger("facegate").setLevel(logging.INFO)
    settings = load_settings()
    procs: list = []
    purger = _start_purger(settings)

    def ready(stack):
        print(
            f"FaceGate: MQTT broker on {stack.host}:{stack.port} (mutual TLS, CA {stack.ca.ca_file}); "
            f"rules write to {settings.data_dir}",
            flush=True,
        )
        procs.extend(_start(_children(settings, ui=not args.no_ui, api=not args.no_api, aws=not args.no_aws)))
        if not args.no_aws:
            print(
                f"FaceGate AWS-compatible endpoint (S3, Rekognition, IoT Data): "
                f'http://{settings.bind_host}:{settings.aws_port}  (eval "$(python -m core aws-env)")',
                flush=True,
            )
        if not args.no_ui:
            print(f"FaceGate app: http://{settings.bind_host}:{settings.app_port}", flush=True)
            _first_run_hint(settings)

    try:
        if settings.backend != "local":
            procs.extend(_start(_children(settings, ui=not args.no_ui, api=False)))
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            while not stop.wait(1.0):
                if procs and all(p.poll() is not None for _n, p in procs):
                    break
            return 0
        return run_stack(settings, on_ready=ready)
    finally:
        _stop(procs)
        if purger is not None:
            purger.stop()


def _first_run_hint(settings) -> None:
    """Until an admin password exists nobody can enrol: say how to set one (the code itself
    stays in its owner-only file, out of terminal scrollback and logs)."""
    from core.access.sessions import access_control

    ctl = access_control(settings)
    if ctl.password_source() == "unset":
        print(
            f"First run: open http://{settings.bind_host}:{settings.app_port}/admin and choose the admin "
            f"password with the setup code in {ctl.setup_code_file()} "
            "(or: python -m core access set-password)",
            flush=True,
        )


def _start_purger(settings):
    """Expired captures are purged every ``purge_interval_minutes`` while the stack runs
    (core.usecases.retention); None when the services cannot be built (the app reports why)."""
    import dataclasses

    from core.bootstrap import build_services
    from core.errors import FaceGateError
    from core.usecases.retention import Purger

    try:
        # The purger never publishes: no MQTT connection of its own.
        services = build_services(
            dataclasses.replace(settings, publisher="direct") if settings.backend == "local" else settings
        )
    except FaceGateError as exc:
        log.warning("captures will not be purged automatically: %s", exc)
        return None
    return Purger(services).start()


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the local stack: MQTT broker, rule engine, Web API and the app")
    p.add_argument("--no-ui", action="store_true", help="do not start the Streamlit app")
    p.add_argument("--no-api", action="store_true", help="do not start the local Web API")
    p.add_argument("--no-aws", action="store_true", help="do not start the AWS-compatible endpoint")
    p.set_defaults(func=_serve)
