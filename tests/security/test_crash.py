"""kill -9 during enrolment through ``core.usecases.people`` (vectors + photos + thumbnails + records).

tests/faces already kills a process mid-IndexFaces (the collection stays consistent) and
tests/telemetry kills the broker, the rule engine and the publishing app mid-stream (no
acknowledged message lost); this adds the layer above: a person's enrolment is a face vector
*and* three objects, so after each kill every acknowledged enrolment must be complete, the
database intact, every record readable, and no half-written photo (temp file) left behind."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.access import sessions
from core.bootstrap import build_services
from core.config import load_settings
from core.usecases import people, retention
from tests.app.conftest import ROOT, jpeg

pytestmark = pytest.mark.slow

CHILD = """
import sys
from pathlib import Path
from core.usecases import people
from core.access.sessions import operator
from core.bootstrap import build_services

services = build_services()
start, photos = int(sys.argv[1]), sys.argv[2:]
with operator(services.settings, "crash-test"):
    for i in range(start, 10_000):
        photo = Path(photos[i % len(photos)]).read_bytes()
        outcome = people.enrol_person(services, f"p{i}", [("p.jpg", photo)])[0]
        print(f"ack p{i} {outcome.face_id}", flush=True)
"""


def test_kill_9_during_enrolment_loses_no_acknowledged_enrolment(tmp_path, labelled):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(
        {
            "FACEGATE_DATA_DIR": str(data),
            "FACEGATE_SECRETS_FILE": str(tmp_path / "none.toml"),
            "FACEGATE_PUBLISHER": "direct",
            "PYTHONPATH": str(ROOT),
        }
    )
    photos = []
    for person in ("amy", "howard", "leonard"):
        path = tmp_path / f"{person}.jpg"
        path.write_bytes(jpeg(labelled[person][0], size=480))
        photos.append(str(path))
    acked: dict[str, str] = {}
    rng = random.Random(8)
    kills = 0
    start = 0
    for _round in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(start), *photos],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            target = rng.randint(1, 3)
            while len(acked) < start + target:
                line = proc.stdout.readline()
                assert line, "the enrolling process stopped on its own"
                _, name, face_id = line.split()
                acked[name] = face_id
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside the next enrolment
            proc.send_signal(signal.SIGKILL)
            kills += 1
            for line in proc.stdout.read().splitlines():  # acks written before the kill still count
                _, name, face_id = line.split()
                acked[name] = face_id
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        start = max(int(n[1:]) for n in acked) + 2  # the killed one's name is never reused
        _check_after_crash(data, acked)
    assert kills == 4 and len(acked) >= 4


def _check_after_crash(data: Path, acked: dict[str, str]) -> None:
    for db in data.rglob("*.db"):
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", db
    settings = load_settings(
        env={
            "FACEGATE_DATA_DIR": str(data),
            "FACEGATE_SECRETS_FILE": str(data / "none.toml"),
            "FACEGATE_PUBLISHER": "direct",
        }
    )
    services = build_services(settings)  # reopening is what tidies up after a crash
    try:
        with sessions.operator(settings, "tests"):
            everyone = {p.name: p for p in people.list_people(services)}
            for name, face_id in acked.items():
                person = everyone[name]
                assert face_id in person.face_ids
                enrolment = next(e for e in person.enrolments if face_id in e.face_ids)
                assert enrolment.photo_key and enrolment.thumb_key  # photo and thumbnail both there
                assert services.objects.get_object(settings.faces_bucket, enrolment.photo_key)[:2] == b"\xff\xd8"
        objects = data / "objects"
        for record in objects.rglob("*.json"):
            json.loads(record.read_text())  # every record readable, none torn
        # A kill between writing a temp file and renaming it leaves the temp file (maybe a face
        # photo). Make sure there is one (as such a kill leaves it), age it: the purge removes it.
        fake = objects / settings.faces_bucket / ".tmp-killed-mid-write"
        fake.write_bytes(b"\xff\xd8 half a photo")
        fresh = objects / settings.faces_bucket / ".tmp-being-written-now"
        fresh.write_bytes(b"\xff\xd8 a live write")
        old = time.time() - 3600
        for leftover in objects.rglob(".tmp-*"):
            if leftover != fresh:
                os.utime(leftover, (old, old))
        with sessions.operator(settings, "tests"):
            retention.purge(services)
        assert [p.name for p in objects.rglob(".tmp-*")] == [fresh.name]
        fresh.unlink()
    finally:
        services.close()
