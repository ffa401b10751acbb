"""Real-browser harness shared by tests/browser and bench/camera_browser.py.

Starts the real app (``streamlit run streamlit_app.py``) on a free loopback port with its own
data dir, and Debian's chromium through Python playwright with a fake camera that plays a
face image converted to Y4M at run time (FIELD_NOTES: flags, executable path).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import ssl
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
def running_app(
    data_dir: Path,
    extra_env: dict | None = None,
    timeout: float = 60.0,
    address: str = "127.0.0.1",
    tls: tuple[Path, Path] | None = None,
):
    """Run the app on a free port (loopback unless ``address``; over HTTPS with ``tls`` =
    (certificate, key), as ``make run-https``); yield its base URL (``.pid``: the server); stop it."""
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
            address,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *(("--server.sslCertFile", str(tls[0]), "--server.sslKeyFile", str(tls[1])) if tls else ()),
        ),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = RunningApp(f"{'https' if tls else 'http'}://{address}:{port}")
    url.pid = proc.pid
    # The health check trusts the app's own self-signed certificate, as a phone told to does.
    context = ssl._create_unverified_context() if tls else None  # noqa: S323
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2, context=context) as r:
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
    video: Path | None,
    user_data: Path,
    locale: str = "ja-JP",
    camera_allowed: bool = True,
    timezone: str | None = None,
    init_script: str | None = None,
    ignore_https_errors: bool = False,
):
    """A chromium page at 390x844 whose camera plays ``video`` (Chromium's test pattern when
    None); ``camera_allowed=False`` is a user who has not let the page use the camera;
    ``init_script`` runs in every frame before the page's own scripts."""
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
            ignore_https_errors=ignore_https_errors,
        )
        if init_script:
            ctx.add_init_script(init_script)
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(60_000)  # a loaded CI runner, not a failure
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


MJPEG_FPS = 30  # Chromium's fake camera plays an .mjpeg file at 30 frames per second
MARKER = 24  # the face marker's side (top-left corner), pixels
COUNTER_BITS, COUNTER_SIDE = 12, 20  # the frame counter: squares along the bottom edge


def face_frame(face_image: Path | None, width: int = 640, height: int = 480, face_height: float = 0.5) -> Image.Image:
    """A grey frame with ``face_image`` (scaled to ``face_height`` of the frame) in the middle."""
    frame = Image.new("RGB", (width, height), (128, 128, 128))
    if face_image is not None:
        face = Image.open(face_image).convert("RGB")
        side = int(height * face_height)
        face = face.resize((int(face.width * side / face.height), side), Image.BICUBIC)
        frame.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    return frame


def live_video(segments: list[tuple[Path | None, float]], out: Path, width: int = 640, height: int = 480) -> list[int]:
    """Write an MJPEG video for Chromium's fake camera (it loops it): each ``(face image or
    None, seconds)`` segment shows that face (or an empty grey frame) for that long; faces with
    gaps between them are separate appearances. Returns each segment's first frame index.

    So that a page can measure what it sees (bench/live.py), every frame carries a white (face
    shown) or black (no face) square in the top-left corner and its index, modulo 2**12, in
    binary as black/white squares along the bottom edge."""
    starts, index = [], 0
    with open(out, "wb") as fh:
        for image, seconds in segments:
            starts.append(index)
            base = face_frame(image, width, height)
            base.paste((255, 255, 255) if image is not None else (0, 0, 0), (0, 0, MARKER, MARKER))
            for _ in range(round(seconds * MJPEG_FPS)):
                frame = base.copy()
                for bit in range(COUNTER_BITS):
                    x, colour = bit * COUNTER_SIDE, (255, 255, 255) if (index >> bit) & 1 else (0, 0, 0)
                    frame.paste(colour, (x, height - COUNTER_SIDE, x + COUNTER_SIDE, height))
                buf = io.BytesIO()
                frame.save(buf, format="JPEG", quality=85)
                fh.write(buf.getvalue())
                index += 1
    return starts


def start_live(page) -> None:
    """On the camera page: open the Live tab and press the stream's Start button."""
    wait_idle(page)
    page.get_by_role("tab", name=re.compile("ライブ|Live")).click()
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']")
    # The button appears once the server has loaded the stream's models (a minute on busy cores).
    frame.get_by_role("button", name=re.compile("^(開始|Start)$")).click(timeout=180_000)
    # The stream's own video (autoplay); the Live probe adds a hidden one for the camera.
    frame.locator("video[autoplay]").wait_for()


# Installed in every frame before any script: samples what the camera delivers and what the
# server sends back, frame by frame (requestVideoFrameCallback), reading the live_video marks.
# window.__liveCam: {t, n, m, p} per camera frame; window.__liveOut: {t, n, m, p, g, r} per shown
# frame: t the page clock (ms), n the frame's index, m the face marker, p the video's count of
# frames presented so far (a busy page samples fewer frames than are shown), g / r (sampled)
# pixels of the known (green) / unknown (red) overlay colours.
LIVE_PROBE_JS = (
    """
(() => {
  if (window.__liveProbe || !navigator.mediaDevices) return;
  // Only the Live component's frame samples (checked late: the iframe starts as about:blank).
  const here = () => location.pathname.includes('streamlit_webrtc');
  window.__liveProbe = true;
  window.__liveCam = []; window.__liveOut = [];
  const W = 320, H = 240, BITS = __BITS__, SIDE = __SIDE__, MARKER = __MARKER__;
  function sample(video, sink, colours) {
    const canvas = document.createElement('canvas'); canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const step = (now, meta) => {
      if (video.videoWidth) {
        ctx.drawImage(video, 0, 0, W, H);
        const px = ctx.getImageData(0, 0, W, H).data;
        const lum = (x, y) => { const i = (Math.round(y) * W + Math.round(x)) * 4; return px[i] + px[i+1] + px[i+2]; };
        let n = 0;
        for (let b = 0; b < BITS; b++) if (lum((b + 0.5) * SIDE / 2, H - SIDE / 4) > 384) n |= (1 << b);
        const rec = {t: now, n: n, m: lum(MARKER / 4, MARKER / 4) > 384, p: meta.presentedFrames};
        if (colours) {
          let g = 0, r = 0;
          for (let y = 0; y < H - SIDE / 2; y += 2) for (let x = 0; x < W; x += 2) {
            const i = (y * W + x) * 4, R = px[i], G = px[i+1], B = px[i+2];
            if (G > 110 && G - R > 60 && G - B > 30) g++;
            else if (R > 160 && R - G > 90 && R - B > 90) r++;
          }
          rec.g = g; rec.r = r;
        }
        sink.push(rec);
      }
      video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
  }
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    if (!here()) return stream;
    const v = document.createElement('video');
    v.muted = true; v.playsInline = true; v.srcObject = stream;
    v.style.cssText = 'position:fixed;right:0;bottom:0;width:4px;height:3px;opacity:0.01;pointer-events:none';
    v.dataset.liveProbe = 'camera';
    document.body.appendChild(v); v.play();
    sample(v, window.__liveCam, false);
    return stream;
  };
  setInterval(() => {
    if (!here()) return;
    for (const v of document.querySelectorAll('video:not([data-live-probe])')) {
      if (v.srcObject) { v.dataset.liveProbe = 'out'; sample(v, window.__liveOut, true); }
    }
  }, 100);
})();
""".replace("__BITS__", str(COUNTER_BITS))
    .replace("__SIDE__", str(COUNTER_SIDE))
    .replace("__MARKER__", str(MARKER))
)

GREEN_MIN = 30  # sampled green pixels that mean "a name is drawn" (a label is ~150 of them)


def live_probe(page) -> tuple[list[dict], list[dict]]:
    """(camera samples, shown samples) from the Live component's frame (see LIVE_PROBE_JS)."""
    for frame in page.frames:
        if "streamlit_webrtc" in frame.url:
            return frame.evaluate("() => [window.__liveCam || [], window.__liveOut || []]")
    return [], []


def unwrap_counter(samples: list[dict], period: int) -> list[int]:
    """Absolute frame indices from the 12-bit counters of consecutive samples of a video that
    loops every ``period`` frames (a counter that falls by more than half a loop wrapped)."""
    out, base, last = [], 0, None
    for s in samples:
        n = s["n"]
        if last is not None and n < last - period // 2:
            base += period
        out.append(base + n)
        last = n
    return out
