"""A full disk is said plainly (issue 13 §14): ``/search`` answered 500 and the CLI printed an
internal error, because an OSError(ENOSPC) or SQLite's "database or disk is full" / "disk I/O
error" reached them as unknown exceptions. Now the Web API answers 503, the CLI exits 2 with a
sentence, the pages show one (``core.storage.files.storage_full``).

The errors are injected at the faces port and produced by a real SQLite database at its size
limit; the last test fills a real (tmpfs) file system under the real CLI and Web API server, and
is skipped where mounting one is not allowed."""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.errors import StorageFull
from core.storage.files import storage_full
from core.web import routes
from tests.api.conftest import ServerProcess, http, world_env

ROOT = Path(__file__).resolve().parents[2]


def sqlite_full_error(tmp_path) -> sqlite3.OperationalError:
    conn = sqlite3.connect(tmp_path / "small.db")
    conn.execute("PRAGMA max_page_count = 2")
    conn.execute("CREATE TABLE t (x BLOB)")
    try:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("SQLite accepted a row larger than its page limit")


def test_disk_full_errors_are_recognised_and_others_are_not(tmp_path):
    full = sqlite_full_error(tmp_path)
    assert "full" in str(full)
    for exc in (OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EDQUOT, "quota"), full):
        assert isinstance(storage_full(exc, tmp_path), StorageFull), exc
    wrapped = RuntimeError("could not save")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(storage_full(wrapped), StorageFull)
    # Not a full disk: permissions, a missing file, a bug; and SQLite's generic I/O error
    # while the disk has room.
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 10  # type: ignore[attr-defined]
    for exc in (OSError(errno.EACCES, "denied"), FileNotFoundError("x"), ValueError("bug"), io_error):
        assert storage_full(exc, tmp_path) is None, exc


def search_event(image: bytes) -> dict:
    return {"httpMethod": "POST", "body": json.dumps({"image_base64str": base64.b64encode(image).decode()})}


@pytest.mark.parametrize("failure", ["enospc", "sqlite_full"])
def test_search_on_a_full_disk_answers_503(services, labelled, monkeypatch, tmp_path, failure):
    error = OSError(errno.ENOSPC, "No space left on device") if failure == "enospc" else sqlite_full_error(tmp_path)

    def full(**_kwargs):
        raise error

    monkeypatch.setattr(services.faces, "search_faces_by_image", full)
    image = next(iter(labelled.values()))[0].read_bytes()
    answer = routes.handle_route("search", search_event(image), services)
    assert answer["statusCode"] == 503, answer
    assert "disk" in answer["body"] and "Traceback" not in answer["body"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 48 MB tmpfs mounted for this test (needs root and a kernel that lets us mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_really_full_disk_cli_and_web_api(tiny_disk, labelled):
    data = tiny_disk / "data"
    env = world_env(data, FACEGATE_PUBLISHER="direct")
    face = next(iter(labelled.values()))[0]

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    assert cli("faces", "create-collection", "facegate").returncode == 0
    assert cli("faces", "index", str(face), "--external-id", "Amy").returncode == 0
    made = cli("api-key", "create", "--name", "tests")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]  # printed once, alone on the last line
    server = ServerProcess(env)
    body = json.dumps({"image_base64str": base64.b64encode(face.read_bytes()).decode()})
    try:
        assert http(f"{server.url}/search", body, key=key).status == 200  # up, models loaded
        fill(tiny_disk)
        # Enrolling must write: refused with a sentence (exit 2), never an internal error.
        done = cli("faces", "index", str(face), "--external-id", "Bob")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stderr.strip().splitlines()[-1])["error"] == "ServiceUnavailableException"
        # A search may need no write (0) or fail to open SQLite's WAL (2); never 1.
        done = cli("faces", "search", str(face))
        assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr
        assert server.proc.poll() is None, server.proc.stderr.read()
        reply = http(f"{server.url}/search", body, key=key)
        assert reply.status in (503, 200), reply.text  # 200 when it needed to write nothing
        # Space freed: it works again.
        (tiny_disk / "filler").unlink()
        assert cli("faces", "index", str(face), "--external-id", f"Bob{uuid.uuid4().hex[:4]}").returncode == 0
    finally:
        server.stop()
