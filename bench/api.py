"""Web API benchmark: ``POST /search`` (one face, 640x480 JPEG, data URI) through the local
server at 1, 4 and 16 concurrent clients, against calling the handler in process.

Prints requests/s, p50/p95 and the HTTP overhead (also for a request that does no face work,
which isolates the server itself). The server runs as a child process (``python -m core api``)
so the clients do not share its interpreter. Asserts nothing.

    .venv/bin/python bench/api.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces" / "labelled"

from core.bootstrap import build_services  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.web import routes  # noqa: E402
from core.web.apikeys import ApiKeyStore  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def line(label: str, xs: list[float], wall: float | None = None) -> str:
    rate = len(xs) / wall if wall else 1.0 / statistics.mean(xs)
    return (
        f"{label:<34} {rate:7.1f} req/s   p50 {statistics.median(xs) * 1000:7.1f} ms   "
        f"p95 {pct(xs, 0.95) * 1000:7.1f} ms   (n={len(xs)})"
    )


def probe_jpeg(face: Path) -> bytes:
    """640x480 photo-like JPEG: one ~220 px face on a textured background."""
    rng = np.random.default_rng(1)
    bg = np.tile(np.linspace(60, 200, 640), (480, 1))[..., None].repeat(3, 2) + rng.normal(0, 10, (480, 640, 3))
    img = Image.fromarray(bg.clip(0, 255).astype(np.uint8))
    img.paste(Image.open(face).convert("RGB").resize((220, 220)), (210, 110))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def start_server(env: dict, workers: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "core", "api", "--host", "127.0.0.1", "--port", "0", "--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    if not sel.select(timeout=30):
        proc.kill()
        raise SystemExit("server did not start")
    return proc, json.loads(proc.stderr.readline().split(" (")[0])["api"]


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of ``pid`` plus its worker processes."""
    pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for p in pids:
        for row in Path(f"/proc/{p}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                total += int(row.split()[1]) / 1024
    return total


def run_clients(url: str, key: str, body: bytes, clients: int, per_client: int, expect: int) -> tuple[list, float]:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    errors: list[str] = []

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=120)  # keep-alive, like a phone app
        mine = []
        barrier.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            conn.request("POST", "/search", body, {"Content-Type": "application/json", "x-api-key": key})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            if response.status != expect:
                errors.append(str(response.status))
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        print(f"  !! {len(errors)} unexpected statuses: {sorted(set(errors))}")
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    n = 8 if args.quick else 24

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
        env.update(
            FACEGATE_DATA_DIR=f"{tmp}/data",
            FACEGATE_SECRETS_FILE=f"{tmp}/none.toml",
            FACEGATE_BACKEND="local",
            # lift the usage-plan throttle (50/s, burst 200): we measure the server, not the plan
            FACEGATE_API_RATE_PER_SECOND="100000",
            FACEGATE_API_BURST="100000",
        )
        settings = load_settings(env=env)
        services = build_services(settings)
        services.faces.create_collection(CollectionId=settings.collection)
        people = sorted(p for p in FACES.iterdir() if p.is_dir())
        for person in people:
            enrolment = {"Bytes": (person / "1.png").read_bytes()}
            services.faces.index_faces(
                CollectionId=settings.collection, Image=enrolment, ExternalImageId=person.name, MaxFaces=1
            )
        key = ApiKeyStore(settings.data_dir).create("bench")[1]
        image = probe_jpeg(people[0] / "2.png")
        body = json.dumps(
            {"image_base64str": "data:image/jpeg;base64," + base64.b64encode(image).decode(), "threshold": 80}
        ).encode()
        tiny = b'{"threshold": 80}'  # answered 400 before any face work: the cost of the plumbing
        print(
            "load average before: {:.2f} {:.2f} {:.2f} (other work on the machine skews concurrency figures)".format(
                *os.getloadavg()
            )
        )
        print(
            f"collection: {len(people)} people; probe 640x480 JPEG {len(image) / 1024:.0f} KB "
            f"(body {len(body) / 1024:.0f} KB); cpus {os.cpu_count()}"
        )

        # In process: the same handler the server and Lambda run, no socket.
        event = {
            "resource": "/search",
            "path": "/search",
            "httpMethod": "POST",
            "body": body.decode(),
            "requestContext": {"requestId": "bench"},
        }
        out = routes.handle_event(event, services)
        best = json.loads(out["body"])["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"]
        print(f"probe identified as {best!r} (expected {people[0].name!r})")
        inproc = []
        for _ in range(n):
            t0 = time.perf_counter()
            routes.handle_event(event, services)
            inproc.append(time.perf_counter() - t0)
        tiny_event = {**event, "body": tiny.decode()}
        inproc_tiny = []
        for _ in range(200):
            t0 = time.perf_counter()
            routes.handle_event(tiny_event, services)
            inproc_tiny.append(time.perf_counter() - t0)

        print()
        print(line("in process, handler (baseline)", inproc))
        print(line("in process, 400 (no face work)", inproc_tiny))
        for workers in (1, 2):
            proc, url = start_server(env, workers)
            try:
                for _ in range(workers * 2):  # warm-up: model load in every worker
                    run_clients(url, key, body, workers, 2, 200)
                print(f"\n-- local server, {workers} worker process(es) --")
                results = {}
                for clients in (1, 4, 16):
                    per = max(2, (n * 2) // clients) if clients > 1 else n
                    lat, wall = run_clients(url, key, body, clients, per, 200)
                    results[clients] = (lat, wall)
                    print(line(f"HTTP /search, {clients:>2} client(s)", lat, wall))
                http_tiny, wall = run_clients(url, key, tiny, 1, 200, 400)
                print(line("HTTP, 400 (no face work)", http_tiny, wall))
                lat1 = results[1][0]
                p50, base = statistics.median(lat1), statistics.median(inproc)
                plumbing = statistics.median(http_tiny) - statistics.median(inproc_tiny)
                print(
                    f"HTTP overhead at 1 client: p50 {(p50 - base) * 1000:+.1f} ms "
                    f"(x{p50 / base:.2f} of in process); plumbing alone {plumbing * 1000:+.2f} ms"
                )
                base_rate = len(lat1) / results[1][1]
                for clients in (4, 16):
                    lat, wall = results[clients]
                    print(f"throughput {clients:>2} clients / 1 client: x{(len(lat) / wall) / base_rate:.2f}")
                print(f"server peak RSS (all workers) {peak_rss_mb(proc.pid):.0f} MB")
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        services.close()
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
