"""``python -m core serve --no-ui``: broker + rule engine + the local Web API + the AWS-compatible
endpoint, stopped cleanly."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.events.records import door_open_record, utc_now
from core.telemetry.local import build_local_publisher, read_broker_status

from .conftest import free_port, wait_for
from .test_kill9 import _read_line

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _api_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 without a key) means it is serving
    except OSError:
        return False
    return True


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children.get(child, [])
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_serve_runs_broker_rules_and_web_api_then_stops_them(tele_settings):
    """One process serves the broker, the rules, the Web API and the AWS-compatible endpoint
    (issue 15: one interpreter, not three; docs/faces.md, "Where identification runs")."""
    api_port, aws_port = free_port(), free_port()
    settings = dataclasses.replace(tele_settings, api_port=api_port)
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(settings.data_dir),
        FACEGATE_MQTT_PORT=str(settings.mqtt_port),
        FACEGATE_API_PORT=str(api_port),
        FACEGATE_AWS_PORT=str(aws_port),
        FACEGATE_SECRETS_FILE=str(settings.data_dir / "none.toml"),
        FACEGATE_LOG_LEVEL="ERROR",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", "--no-ui"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert "MQTT broker on" in _read_line(proc, 60)
        assert read_broker_status(settings) is not None
        api_url = f"http://127.0.0.1:{api_port}/search"
        wait_for(lambda: _api_answers(api_url), timeout=60, interval=0.2)
        aws_url = f"http://127.0.0.1:{aws_port}/"  # the AWS-compatible endpoint (403 unsigned)
        wait_for(lambda: _api_answers(aws_url), timeout=60, interval=0.2)
        assert _descendants(proc.pid) == [], [_cmdline(p) for p in _descendants(proc.pid)]

        pub = build_local_publisher(settings, "auto")  # auto finds the running broker
        assert pub is not None
        try:
            pub.publish("door", door_open_record("id001", utc_now(), "Taro_Yamada"))
            assert pub.wait_drained(20), pub.status()
        finally:
            pub.close()
        from core.events.local import LocalEventStore

        store = LocalEventStore(settings.data_dir / "events" / "events.db")
        wait_for(lambda: store.count("door") == 1)
        # Storing events needs no pandas (~70 MB of the process; issue 15's memory target).
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "/pandas/" not in maps and "/pyarrow/" not in maps

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not _api_answers(api_url)  # the Web API child was stopped too
        assert not _api_answers(aws_url)  # and the AWS-compatible endpoint
        assert read_broker_status(settings) is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_make_run_serves_the_app_too_and_says_how_to_become_admin(tele_settings):
    """``make run`` is ``python -m core serve``: the app comes up beside the stack (through
    ``python -m core app run``), the first run says where the admin setup code is, and Ctrl+C
    stops everything."""
    app_port, api_port = free_port(), free_port()
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(tele_settings.data_dir),
        FACEGATE_MQTT_PORT=str(tele_settings.mqtt_port),
        FACEGATE_API_PORT=str(api_port),
        FACEGATE_AWS_PORT=str(free_port()),
        FACEGATE_APP_PORT=str(app_port),
        FACEGATE_SECRETS_FILE=str(tele_settings.data_dir / "none.toml"),
        FACEGATE_LOG_LEVEL="ERROR",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []  # the children print to the same stdout, in any order

    def pump() -> None:
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_for(lambda: any(line.startswith("First run") for line in lines), timeout=60, interval=0.1)
        assert f"FaceGate app: http://127.0.0.1:{app_port}\n" in lines
        hint = next(line for line in lines if line.startswith("First run"))
        assert str(tele_settings.data_dir / "admin-setup-code") in hint
        health = f"http://127.0.0.1:{app_port}/_stcore/health"
        wait_for(lambda: _api_answers(health), timeout=60, interval=0.2)
        # The stack is two processes: serve (broker, rules, Web API, AWS endpoint) and the app.
        assert _api_answers(f"http://127.0.0.1:{api_port}/search")
        children = [_cmdline(p) for p in _descendants(proc.pid)]
        assert len(children) == 1 and " app run " in children[0], children
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert not _api_answers(health)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_taken_port_leaves_that_server_out_with_the_reason_and_the_rest_serves(tele_settings, caplog):
    """As when each had its own process: a server whose port is taken does not start (the
    reason is logged), the other one serves, and stop() ends it."""
    import socket

    from core.cli.serve import InProcessServers

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = dataclasses.replace(tele_settings, api_port=taken.getsockname()[1], aws_port=free_port())
        servers = InProcessServers().start(settings, api=True, aws=True)
        try:
            assert servers.names == ["aws endpoint"]
            assert any("Web API is not served" in r.getMessage() for r in caplog.records)
            aws_url = f"http://127.0.0.1:{settings.aws_port}/"
            assert _api_answers(aws_url)
        finally:
            servers.stop()
        assert servers.names == []
        assert not _api_answers(aws_url)
