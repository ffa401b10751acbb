"""One enrolled local world per test session, and the real local API server on it.

Enrolled: amy, howard and leonard (their 1.png, through IndexFaces). penny is never
enrolled, so her photos must match nobody at the default threshold.
"""

from __future__ import annotations

import base64
import io
import json
import os
import selectors
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ENROLLED = ("amy", "howard", "leonard")


@dataclass
class World:
    settings: object
    services: object
    env: dict
    people: dict  # person -> image paths


def world_env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(
        {
            "FACEGATE_DATA_DIR": str(data_dir),
            "FACEGATE_SECRETS_FILE": str(data_dir / "no-secrets.toml"),
            "FACEGATE_BACKEND": "local",
            "PYTHONPATH": str(ROOT),
            # The contract test sends bursts from one key; the usage-plan throttle has its own tests.
            "FACEGATE_API_RATE_PER_SECOND": "100000",
            "FACEGATE_API_BURST": "100000",
        },
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def world(tmp_path_factory, labelled) -> World:
    from core.bootstrap import build_services
    from core.config import load_settings

    data_dir = tmp_path_factory.mktemp("api-world") / "data"
    env = world_env(data_dir)
    settings = load_settings(env=env)
    services = build_services(settings)
    services.faces.create_collection(CollectionId=settings.collection)
    for person in ENROLLED:
        image = {"Bytes": labelled[person][0].read_bytes()}
        out = services.faces.index_faces(
            CollectionId=settings.collection,
            Image=image,
            ExternalImageId=person,
            MaxFaces=1,
            QualityFilter="AUTO",
            DetectionAttributes=["ALL"],
        )
        assert len(out["FaceRecords"]) == 1, person
    yield World(settings, services, env, labelled)
    services.close()


@pytest.fixture(scope="session")
def api_key(world) -> str:
    from core.web.apikeys import ApiKeyStore

    return ApiKeyStore(world.settings.data_dir).create("tests")[1]


class ServerProcess:
    """``python -m core api --port 0`` as a child process; ``url`` read from its first line."""

    def __init__(self, env: dict, *extra: str):
        command = [sys.executable, "-m", "core", "api", "--host", "127.0.0.1", "--port", "0", *extra]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        if not sel.select(timeout=30):
            self.stop()
            raise RuntimeError("the API server did not start within 30 s")
        line = self.proc.stderr.readline()
        try:
            self.url = json.loads(line.split(" (")[0])["api"]
        except (ValueError, KeyError):
            self.stop()
            raise RuntimeError(f"unexpected first line from the API server: {line!r}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture(scope="session")
def server(world, api_key):
    srv = ServerProcess(world.env)
    yield srv
    srv.stop()


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


def http(
    url: str,
    body: bytes | str | None = None,
    *,
    key: str | None = None,
    method: str = "POST",
    headers: dict | None = None,
    timeout: float = 60,
) -> Reply:
    """One HTTP request; error statuses are returned, not raised."""
    data = body.encode() if isinstance(body, str) else body
    h = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        h["x-api-key"] = key
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode())
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode())


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def to_jpeg(path_or_bytes, size: tuple[int, int] | None = None) -> bytes:
    """Re-encode a face photo as JPEG (what phones and the course's device send)."""
    raw = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    img = Image.open(io.BytesIO(raw)).convert("RGB")
    if size:
        img = img.resize(size)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session")
def no_face_jpeg() -> bytes:
    """A real photo-sized JPEG with no face in it (a smooth gradient with texture)."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 255, 640, dtype=np.float64)
    arr = np.tile(x, (480, 1))[..., None].repeat(3, axis=2) + rng.normal(0, 8, (480, 640, 3))
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def png_bomb(width: int = 10000, height: int = 10000) -> bytes:
    """A tiny, well-formed PNG header that claims 100 megapixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
