"""``python -m core serve [--no-ui]``: the whole local stack — the MQTT broker and rule engine,
the local Web API and the AWS-compatible endpoint (all in this process) and the app (a child
process) — until Ctrl+C.

The Web API and the AWS-compatible endpoint are uvicorn servers on threads of this process, each
with its own event loop (the broker keeps its own): one interpreter instead of three, so the
stack pays once for Python, numpy and the face engine (issue 15: the whole stack's memory;
docs/faces.md, "Where identification runs, and memory"). Their blocking work runs in thread
pools, as it did in their own processes. The broker is not stalled by face work: dlib, OpenCV
and onnxruntime release the GIL while they compute; with a thread doing SearchFacesByImage and
DetectFaces ALL back to back, an asyncio loop's 1 ms ticks came p50 1.1 ms, p99 7 ms, max 100 ms
apart (load 10 on 2 cores, 2026-12-01).
The Web API and the app publish through MQTT and the outbox (``FACEGATE_PUBLISHER=mqtt`` unless
set). In the aws world the broker and rules are IoT Core's, so only the app is started.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.web.server import BackgroundServer

log = logging.getLogger("facegate.serve")
ROOT = Path(__file__).resolve().parents[2]


class InProcessServers:
    """The local Web API and the AWS-compatible endpoint served on threads of this process
    (``core.web.server.BackgroundServer``), on their configured ports, with the same services,
    limits and answers as ``python -m core api`` / ``aws-endpoint``. ``stop()`` shuts both down
    (in-flight requests finish within the servers' graceful-shutdown time)."""

    def __init__(self) -> None:
        self._running: list[tuple[str, BackgroundServer, Callable[[], None]]] = []  # (name, server, closer)

    @property
    def names(self) -> list[str]:
        return [name for name, _server, _close in self._running]

    def start(self, settings, *, api: bool, aws: bool) -> InProcessServers:
        """Start the ones asked for, in the local world. One that cannot start (its port is
        taken, its services cannot be built) is logged with the reason and left out, as its
        own process would have exited, and the rest of the stack serves on."""
        from core.errors import FaceGateError

        if settings.backend != "local":
            return self
        wanted = [(api, "Web API", self._start_api), (aws, "AWS-compatible endpoint", self._start_aws)]
        for on, name, start in wanted:
            if not on:
                continue
            try:
                start(settings)
            except FaceGateError as exc:
                log.error("the %s is not served: %s", name, exc)
        return self

    def _start_api(self, settings) -> None:
        from core.bootstrap import build_services
        from core.web.apikeys import ApiKeyStore
        from core.web.app import create_app, describe
        from core.web.server import BackgroundServer

        # As the Web API's own process had it: MQTT and the outbox unless FACEGATE_PUBLISHER says.
        publisher = settings.publisher if "FACEGATE_PUBLISHER" in os.environ else "mqtt"
        services = build_services(dataclasses.replace(settings, publisher=publisher))
        try:
            server = BackgroundServer(create_app(services), settings.bind_host, settings.api_port).start()
        except BaseException:
            services.close()
            raise
        self._running.append(("web api", server, services.close))
        print(describe(server.url, ApiKeyStore(settings.data_dir)), file=sys.stderr, flush=True)

    def _start_aws(self, settings) -> None:
        from core.awsapi.app import build_endpoint
        from core.awsapi.server import ServerThread

        endpoint = build_endpoint(settings)
        try:
            server = ServerThread(endpoint, settings.bind_host, settings.aws_port)
        except BaseException:
            endpoint.close()
            raise
        self._running.append(("aws endpoint", server, endpoint.close))

    def stop(self) -> None:
        while self._running:
            name, server, close = self._running.pop()
            try:
                server.stop()
            finally:
                try:
                    close()
                except Exception:
                    log.exception("closing the %s failed", name)


def _children(settings, *, ui: bool) -> list[tuple[str, list[str]]]:
    out = []
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
    from core.storage.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before the servers' threads (core.storage.memory)

    logging.getLogger("facegate").setLevel(logging.INFO)
    settings = load_settings()
    procs: list = []
    servers = InProcessServers()
    purger = _start_purger(settings)

    def ready(stack):
        print(
            f"FaceGate: MQTT broker on {stack.host}:{stack.port} (mutual TLS, CA {stack.ca.ca_file}); "
            f"rules write to {settings.data_dir}",
            flush=True,
        )
        servers.start(settings, api=not args.no_api, aws=not args.no_aws)
        procs.extend(_start(_children(settings, ui=not args.no_ui)))
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
            procs.extend(_start(_children(settings, ui=not args.no_ui)))
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
        servers.stop()
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
