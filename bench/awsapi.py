"""AWS-compatible endpoint benchmark: S3 PutObject / GetObject of a 100 KB object and Rekognition
SearchFacesByImage (one face, 640x480 JPEG) over the endpoint with boto3, against the same
operation in process (the object store port, the faces port) measured in the same run.

The endpoint runs as a child process (``python -m core aws-endpoint --port 0``) so the client
does not share its interpreter. Prints requests/s, p50/p95, the ratio to the in-process call,
the endpoint's SigV4 check alone, and the endpoint process's memory. Asserts nothing.

    .venv/bin/python bench/awsapi.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces" / "labelled"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from core.awsapi import sigv4  # noqa: E402
from core.awsapi.credentials import CredentialStore  # noqa: E402
from core.bootstrap import build_services  # noqa: E402
from core.config import load_settings  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def line(label: str, xs: list[float], base: list[float] | None = None, wall: float | None = None) -> str:
    rate = len(xs) / wall if wall else 1.0 / statistics.mean(xs)
    ratio = f"   x{statistics.median(xs) / statistics.median(base):6.1f} in-process" if base else ""
    return (
        f"{label:<40} {rate:8.1f} req/s   p50 {statistics.median(xs) * 1000:8.2f} ms   "
        f"p95 {pct(xs, 0.95) * 1000:8.2f} ms{ratio}"
    )


def probe_jpeg(face: Path) -> bytes:
    rng = np.random.default_rng(1)
    bg = np.tile(np.linspace(60, 200, 640), (480, 1))[..., None].repeat(3, 2) + rng.normal(0, 10, (480, 640, 3))
    img = Image.fromarray(bg.clip(0, 255).astype(np.uint8))
    img.paste(Image.open(face).convert("RGB").resize((220, 220)), (210, 110))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def start_endpoint(env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "aws-endpoint", "--host", "127.0.0.1", "--port", "0"],
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
        raise SystemExit("the endpoint did not start")
    first = proc.stderr.readline()
    url = first.rsplit(" ", 1)[-1].strip()
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_s3, n_rk = (60, 10) if args.quick else (300, 40)
    if not FACES.is_dir():
        raise SystemExit(f"needs the shared face images at {FACES}")
    print(f"AWS-compatible endpoint benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="bench-awsapi-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "AWS_"))}
    env.update(
        FACEGATE_DATA_DIR=str(tmp / "data"),
        FACEGATE_SECRETS_FILE=str(tmp / "none.toml"),
        FACEGATE_PUBLISHER="direct",
        FACEGATE_LOG_LEVEL="WARNING",
    )
    settings = load_settings(env=env)
    services = build_services(settings)
    cred = CredentialStore(settings.data_dir).create("bench", "admin")
    faces = services.faces
    faces.create_collection(CollectionId="bench")
    for person in ("amy", "howard", "leonard"):
        faces.index_faces(
            CollectionId="bench", Image={"Bytes": (FACES / person / "1.png").read_bytes()}, ExternalImageId=person
        )
    probe = probe_jpeg(FACES / "amy" / "2.png")
    body = os.urandom(100 * 1024)
    services.objects.put_object("bench-bucket", "warm", b"x")

    # --- in process (the baseline) ---------------------------------------------------------
    objects = services.objects
    base_put = timed(lambda: objects.put_object("bench-bucket", "obj", body), n_s3)
    base_get = timed(lambda: objects.get_object("bench-bucket", "obj"), n_s3)
    faces.search_faces_by_image(CollectionId="bench", Image={"Bytes": probe})  # models loaded
    base_rk = timed(lambda: faces.search_faces_by_image(CollectionId="bench", Image={"Bytes": probe}), n_rk)

    # --- over the endpoint -------------------------------------------------------------------
    proc, url = start_endpoint(env)
    try:
        session = boto3.session.Session(
            aws_access_key_id=cred.access_key_id,
            aws_secret_access_key=cred.secret_access_key,
            region_name="ap-northeast-1",
        )
        cfg = Config(retries={"max_attempts": 1}, max_pool_connections=16)
        s3 = session.client("s3", endpoint_url=url, config=cfg)
        rk = session.client("rekognition", endpoint_url=url, config=cfg)
        s3.put_object(Bucket="bench-bucket", Key="obj", Body=body)
        s3.get_object(Bucket="bench-bucket", Key="obj")["Body"].read()
        rk.search_faces_by_image(CollectionId="bench", Image={"Bytes": probe})
        idle_rss = rss_mb(proc.pid)
        put = timed(lambda: s3.put_object(Bucket="bench-bucket", Key="obj", Body=body), n_s3)
        get = timed(lambda: s3.get_object(Bucket="bench-bucket", Key="obj")["Body"].read(), n_s3)
        search = timed(lambda: rk.search_faces_by_image(CollectionId="bench", Image={"Bytes": probe}), n_rk)
        # four clients at once (GET): what the one event loop + thread pool sustains
        results: list[float] = []
        lock = threading.Lock()

        def client(k: int) -> None:
            c = session.client("s3", endpoint_url=url, config=cfg)
            c.get_object(Bucket="bench-bucket", Key="obj")["Body"].read()
            xs = timed(lambda: c.get_object(Bucket="bench-bucket", Key="obj")["Body"].read(), n_s3 // 4)
            with lock:
                results.extend(xs)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall4 = time.perf_counter() - t0
        peak_rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)

    # the server's signature check alone (canonical request + HMAC chain), no network
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = AWSRequest(method="PUT", url=f"{url}/bench-bucket/obj", data=body)
    signed.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(cred.access_key_id, cred.secret_access_key), "s3", "ap-northeast-1").add_auth(signed)
    prepared = signed.prepare()
    headers = list(prepared.headers.items()) + [("host", url.split("//", 1)[1])]
    sig = sigv4.parse(prepared.headers["Authorization"], {k.lower(): v for k, v in headers}, [])
    check = timed(
        lambda: sigv4.verify(
            sig,
            cred.secret_access_key,
            method="PUT",
            raw_path="/bench-bucket/obj",
            query=[],
            headers=headers,
            body_sha256=None,
        ),
        2000,
    )

    print(f"S3 object: 100 KB; Rekognition probe: 640x480 JPEG, one face, 3 enrolled; n = {n_s3} / {n_rk}")
    print(line("S3 PutObject in process (port)", base_put))
    print(line("S3 PutObject over the endpoint (boto3)", put, base_put))
    print(line("S3 GetObject in process (port)", base_get))
    print(line("S3 GetObject over the endpoint (boto3)", get, base_get))
    print(line("S3 GetObject, 4 clients at once", results, base_get, wall4))
    print(line("SearchFacesByImage in process (port)", base_rk))
    print(line("SearchFacesByImage over the endpoint", search, base_rk))
    print(f"{'SigV4 check alone (server side)':<40} p50 {statistics.median(check) * 1e6:8.1f} us")
    print(f"endpoint process RSS: {idle_rss:.0f} MB after warm-up (models loaded), {peak_rss:.0f} MB after the runs")
    services.close()


if __name__ == "__main__":
    main()
