"""Soak: many mixed requests against the local Web API (a child process), watching its memory
and open file descriptors. Prints requests survived, statuses, throughput, RSS and fds before
and after. Asserts nothing (tests/security/test_soak.py runs a bounded version with limits).

The mix, per 100 requests: 2 real face searches, 2 analyses of a small face-less photo, and
96 requests the server must refuse or answer without face work — malformed JSON and base64,
unknown routes, missing keys, CORS pre-flights, oversize bodies (413), path-traversal file
names. Clients use keep-alive connections and reconnect when the server closes one.

    .venv/bin/python bench/soak.py [--requests 10000] [--clients 8]
"""

from __future__ import annotations

import argparse
import base64
import collections
import http.client
import io
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces" / "labelled"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def request_mix(face_jpeg: bytes) -> list[tuple[str, str, bytes | None, dict]]:
    """100 (method, path, body, headers) entries; headers "key" means: add the API key."""
    face = base64.b64encode(face_jpeg).decode()
    blank = base64.b64encode(_jpeg(Image.new("RGB", (160, 120), (90, 120, 150)))).decode()
    cheap = [
        ("POST", "/search", b"{not json", {}),
        ("POST", "/search", b'{"image_base64str": "!!!"}', {}),
        ("POST", "/analyze", b'{"image_base64str": "data:image/jpeg;base64,QUJD"}', {}),
        ("POST", "/search", b'{"file_name": "../../etc/passwd", "bucket_name": "facegate-photos"}', {}),
        ("POST", "/search", b'{"file_name": "nope.jpg", "bucket_name": "facegate-photos"}', {}),
        ("POST", "/search", b'{"threshold": "x"}', {}),
        ("POST", "/search", b"[" * 5000 + b"]" * 5000, {}),
        ("POST", "/search", b"{}", {"nokey": True}),
        ("GET", "/search", None, {}),
        ("POST", "/nowhere", b"{}", {}),
        ("OPTIONS", "/search", None, {"nokey": True}),
        ("POST", "/analyze", b"x" * 200_000, {}),
    ]
    mix = [cheap[i % len(cheap)] for i in range(94)]
    mix += [("POST", "/search", json.dumps({"image_base64str": face, "threshold": 80}).encode(), {})] * 2
    mix += [("POST", "/analyze", json.dumps({"image_base64str": blank}).encode(), {})] * 2
    mix += [("POST", "/search", b'{"image_base64str": "' + b"A" * (6 * 1024 * 1024 + 10) + b'"}', {})] * 2
    return mix


class Client(threading.Thread):
    def __init__(self, host, port, key, jobs, statuses, errors):
        super().__init__(daemon=True)
        self.host, self.port, self.key = host, port, key
        self.jobs, self.statuses, self.errors = jobs, statuses, errors
        self.conn = None

    def _send(self, method, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = {"Content-Type": "application/json"}
        if not headers.get("nokey"):
            h["x-api-key"] = self.key
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        resp.read()
        if resp.getheader("Connection", "").lower() == "close" or resp.status in (411, 413):
            self.conn.close()
            self.conn = None
        return resp.status

    def run(self):
        while True:
            try:
                job = self.jobs.popleft()
            except IndexError:
                break
            try:
                status = self._send(*job)
            except (OSError, http.client.HTTPException) as exc:
                # A server that closes after refusing a body may reset: count and reconnect.
                self.errors[type(exc).__name__] += 1
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                continue
            self.statuses[status] += 1
        if self.conn is not None:
            self.conn.close()


def run_soak(url: str, key: str, pid: int, n: int, clients: int, face_jpeg: bytes, warmup: int = 200) -> dict:
    """Send ``warmup`` then ``n`` mixed requests; return figures (rss in KB, fds, statuses)."""
    host, port = url.split("//", 1)[1].split(":")
    mix = request_mix(face_jpeg)

    def burst(count):
        jobs = collections.deque(mix[i % len(mix)] for i in range(count))
        statuses, errors = collections.Counter(), collections.Counter()
        threads = [Client(host, int(port), key, jobs, statuses, errors) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return statuses, errors, time.perf_counter() - t0

    burst(warmup)
    time.sleep(0.5)
    before = {"rss_kb": rss_kb(pid), "fds": open_fds(pid)}
    statuses, errors, seconds = burst(n)
    time.sleep(1.0)  # let handler threads finish closing their sockets
    after = {"rss_kb": rss_kb(pid), "fds": open_fds(pid)}
    return {
        "requests": n,
        "seconds": seconds,
        "per_second": n / seconds,
        "statuses": dict(statuses),
        "client_errors": dict(errors),
        "before": before,
        "after": after,
    }


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(
        {
            "FACEGATE_DATA_DIR": str(data_dir),
            "FACEGATE_SECRETS_FILE": str(data_dir / "none.toml"),
            "FACEGATE_PUBLISHER": "direct",
            "FACEGATE_API_RATE_PER_SECOND": "1000000",
            "FACEGATE_API_BURST": "1000000",
            "PYTHONPATH": str(ROOT),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "api", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    if not sel.select(timeout=60):
        proc.kill()
        raise RuntimeError("the API server did not start")
    line = proc.stderr.readline()
    # Keep reading stderr so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, json.loads(line.split(" (")[0])["api"]


def prepare_world(data_dir: Path, face_path: Path) -> tuple[str, bytes]:
    """Enrol one person (as the operator) and make an API key. Returns (key, a probe JPEG)."""
    os.environ.update(
        {
            "FACEGATE_DATA_DIR": str(data_dir),
            "FACEGATE_SECRETS_FILE": str(data_dir / "none.toml"),
            "FACEGATE_PUBLISHER": "direct",
        }
    )
    from core.access.sessions import operator
    from core.bootstrap import build_services
    from core.config import load_settings
    from core.usecases import people
    from core.web.apikeys import ApiKeyStore

    settings = load_settings()
    services = build_services(settings)
    with operator(settings, "soak"):
        people.enrol_person(services, "amy", [("amy.jpg", face_path.read_bytes())])
    services.close()
    key = ApiKeyStore(settings.data_dir).create("soak")[1]
    return key, _jpeg(Image.open(face_path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="fg-soak-")) / "data"
    key, probe = prepare_world(data, sorted((FACES / "amy").glob("*.png"))[0])
    proc, url = start_server(data)
    try:
        out = run_soak(url, key, proc.pid, args.requests, args.clients, probe)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    b, a = out["before"], out["after"]
    print(
        f"soak: {out['requests']} mixed requests, {args.clients} clients, {out['seconds']:.1f} s "
        f"({out['per_second']:.0f} req/s); server alive: {proc.returncode in (0, -15)}"
    )
    print(f"statuses: {dict(sorted(out['statuses'].items()))}; client-side resets: {out['client_errors']}")
    print(
        f"server RSS: {b['rss_kb'] / 1024:.1f} MB -> {a['rss_kb'] / 1024:.1f} MB "
        f"({(a['rss_kb'] - b['rss_kb']) / 1024:+.1f} MB); open fds: {b['fds']} -> {a['fds']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
