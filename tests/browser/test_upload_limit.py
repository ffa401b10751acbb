"""Anonymous uploads cannot make the app hold memory beyond what the engine accepts (issue 13
§10). Streamlit's default ``server.maxUploadSize`` is 200 MB; three anonymous 150 MB uploads
took the app from 559 MB to 1.4 GB. The limit is now the photo limit of the camera page
(``core.images.codec.MAX_UPLOAD_BYTES``), set in ``.streamlit/config.toml``.

The real app is started, a browser opens the camera page as an anonymous viewer and uploads a
small photo so that the upload request (its session id and XSRF token) can be replayed; then
three 150 MB uploads are announced on that session and must be refused (413) after the first
megabyte, with the server's memory unchanged."""

from __future__ import annotations

import io
import socket
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from core.images.codec import MAX_UPLOAD_BYTES
from tests.browser.harness import ROOT, phone_browser, running_app, wait_idle

MB = 1024 * 1024


def test_the_configured_upload_limit_is_the_engines():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] * MB == MAX_UPLOAD_BYTES


def rss_kb(pid: int) -> int:
    """The resident memory of ``pid`` and its children (the app runs in the child)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            pgid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if pgid == pid:
            total += next((int(r.split()[1]) for r in status.splitlines() if r.startswith("VmRSS:")), 0)
    return total


def announce_upload(url: str, path: str, headers: dict, size: int) -> socket.socket:
    """Start a multipart PUT of ``size`` bytes and send its first megabyte; return the socket."""
    parts = urlsplit(url)
    boundary = "facegateboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    lines = [f"PUT {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(head) + size}"]
    lines += [f"Content-Type: multipart/form-data; boundary={boundary}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() in ("cookie", "x-xsrftoken", "origin")]
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + head)
    try:
        sock.sendall(b"\xff" * MB)
    except OSError:
        pass  # already refused and closed
    return sock


def answer_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


@pytest.mark.browser
def test_three_anonymous_150_mb_uploads_are_refused_cheaply(tmp_path, chromium_path):
    data = tmp_path / "data"
    data.mkdir()
    photo = tmp_path / "small.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 120, 120)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())
    with running_app(data) as url, phone_browser(None, tmp_path / "profile") as page:
        uploads = []
        page.on("request", lambda r: uploads.append(r) if "/_stcore/upload_file/" in r.url else None)
        page.goto(url)
        page.get_by_role("tab", name="画像を選ぶ").click()
        page.locator("input[type=file]").first.set_input_files(str(photo))
        wait_idle(page)
        assert uploads, "the browser never uploaded the small photo"
        first = uploads[0]
        headers = dict(first.all_headers())
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
        headers["cookie"] = cookies
        path = urlsplit(first.url).path.rsplit("/", 1)[0] + "/big-file-id"

        before = rss_kb(url.pid)
        socks = [announce_upload(url, path, headers, 150 * MB) for _ in range(3)]
        statuses = []
        for sock in socks:
            with sock:
                statuses.append(answer_status(sock))
        after = rss_kb(url.pid)
    assert statuses == [413, 413, 413], statuses
    assert after - before < 50 * 1024, f"the app grew {(after - before) / 1024:.0f} MB"
