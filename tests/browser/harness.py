"""Real-browser harness shared by tests/browser and bench/camera_browser.py.

Starts the real app (``streamlit run streamlit_app.py``) on a free loopback port with its own
data dir, and Debian's chromium through Python playwright with a fake camera that plays a
face image converted to Y4M at run time (FIELD_NOTES: flags, executable path).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from PIL import Image

from core.cli.app import app_command

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def face_video(face_image: Path, out: Path, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """Write a Y4M (4:2:0) video showing ``face_image`` centred on grey, for Chromium's fake camera."""
    face = Image.open(face_image).convert("RGB")
    side = int(height * 0.7)
    face = face.resize((side, int(face.height * side / face.width)), Image.BICUBIC)
    frame = Image.new("RGB", (width, height), (128, 128, 128))
    frame.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    chroma = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(chroma, Image.BILINEAR).tobytes() + cr.resize(chroma, Image.BILINEAR).tobytes()
    with open(out, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + planes)
    return out


class RunningApp(str):
    """The app's base URL (a str) that also knows the server's process id."""

    pid: int


@contextlib.contextmanager
def running_app(data_dir: Path, extra_env: dict | None = None, timeout: float = 60.0):
    """Run the app on a free loopback port; yield its base URL (``.pid``: the server); stop it."""
    port = free_port()
    env = {
        **os.environ,
        "FACEGATE_DATA_DIR": str(data_dir),
        "FACEGATE_SECRETS_FILE": str(data_dir / "none.toml"),
        "FACEGATE_APP_PORT": str(port),
        **(extra_env or {}),
    }
    log = open(data_dir.parent / f"streamlit-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        app_command(
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = RunningApp(f"http://127.0.0.1:{port}")
    url.pid = proc.pid
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not start within {timeout} s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def phone_browser(
    video: Path | None, user_data: Path, locale: str = "ja-JP", camera_allowed: bool = True, timezone: str | None = None
):
    """A chromium page at 390x844 whose camera plays ``video`` (Chromium's test pattern when
    None); ``camera_allowed=False`` is a user who has not let the page use the camera."""
    from playwright.sync_api import sync_playwright

    flags = CHROMIUM_FLAGS if camera_allowed else [f for f in CHROMIUM_FLAGS if f != "--use-fake-ui-for-media-stream"]
    camera = [f"--use-file-for-fake-video-capture={video}"] if video else []
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(user_data),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*flags, *camera],
            timezone_id=timezone,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale=locale,
            permissions=["camera"] if camera_allowed else [],
        )
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            ctx.close()


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the app has finished its current run (Streamlit's "running" indicator is gone);
    widgets are inert while a run replaces them."""
    page.wait_for_timeout(150)  # let a just-triggered rerun start
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


# The camera widget's shutter in either language (the app translates Streamlit's "Take Photo").
SHUTTER = re.compile("撮影する|Take Photo")


def take_photo(page, scope=None) -> None:
    """Click the camera widget's shutter once the app is idle and the fake stream is live."""
    wait_idle(page)
    where = scope or page
    button = where.get_by_role("button", name=SHUTTER)
    button.wait_for(state="visible")
    # The stream must have played for a while: right after a page switch the new <video> can be
    # "ready" but still showing black, and a photo taken then has no face in it.
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some("
        "v => v.isConnected && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 1.0)"
    )
    button.click()


def horizontal_overflow(page) -> int:
    """Pixels the app is wider than the viewport (0 = no horizontal scrolling)."""
    return page.evaluate("""() => {
        const els = [document.documentElement, document.body,
                     document.querySelector('[data-testid="stMain"]'),
                     document.querySelector('[data-testid="stAppViewContainer"]')].filter(Boolean);
        return Math.max(...els.map(e => e.scrollWidth - e.clientWidth));
    }""")
