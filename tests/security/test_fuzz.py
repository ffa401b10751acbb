"""The fuzz corpus (tests/security/corpus.py) through the CLI, the local HTTP API and the pages.

Every hostile input gets its clear domain error (exit 2 with ``{"error", "message"}``, a 4xx
with ``[FAILED]...`` or API Gateway's message, a sentence on the page), the process stays up
(a good request afterwards still works), and nothing on disk is corrupted (SQLite integrity,
the collection unchanged, no temp files left, everything owner-only, nothing outside the data
directory)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.access import sessions
from core.cli import main as cli_main
from core.storage import permissions
from core.usecases import people
from tests.api.conftest import http
from tests.app.conftest import ROOT, _start, jpeg, texts
from tests.security import corpus
from tests.security.conftest import running_api

DOMAIN_ERRORS = {"InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"}


@pytest.fixture
def world(settings, services, labelled):
    """amy enrolled (by the operator); returns (services, a face JPEG nobody enrolled)."""
    with sessions.operator(settings, "tests"):
        people.enrol_person(services, "amy", [("amy.jpg", jpeg(labelled["amy"][0]))])
    return services, jpeg(labelled["penny"][0])


def _disk_state(settings) -> dict:
    """What must not change (or break) whatever the input: returned for before/after checks."""
    data = Path(settings.data_dir)
    for db in data.rglob("*.db"):
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", db
    files = [p for p in data.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".tmp-")], "a temp file was left behind"
    assert permissions.owner_only_problems(data) == []
    for p in files:
        assert p.resolve().is_relative_to(data.resolve()), p
    with sqlite3.connect(data / "faces" / "faces.db") as con:
        faces = sorted(con.execute("SELECT face_id, external_image_id FROM faces").fetchall())
    objects = sorted(str(p.relative_to(data / "objects")) for p in (data / "objects").rglob("*") if p.is_file())
    return {"faces": faces, "objects": objects}


# --- CLI ------------------------------------------------------------------------------------
def _cli(argv, capsys) -> tuple[int, dict | None]:
    rc = cli_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, json.loads(err[-1]) if err else None


def test_cli_gives_every_bad_file_and_name_a_domain_error(world, settings, tmp_path, capsys):
    services, face = world
    before = _disk_state(settings)
    handled = 0
    for name, data in corpus.bad_images(face):
        path = tmp_path / name
        path.write_bytes(data)
        for argv in (
            ["faces", "detect", str(path)],
            ["faces", "search", "--collection", settings.collection, str(path)],
            ["faces", "index", "--collection", settings.collection, "--external-id", "Mallory", str(path)],
        ):
            rc, err = _cli(argv, capsys)
            assert rc == 2 and err["error"] in DOMAIN_ERRORS, (name, argv[1], rc, err)
            handled += 1
    good = tmp_path / "good.jpg"
    good.write_bytes(face)
    for bad in corpus.BAD_NAMES:
        # ".." and "." are valid ExternalImageIds for Rekognition itself; only people's names
        # (which become object keys) refuse them.
        if not re.fullmatch(r"[a-zA-Z0-9_.\-:]{1,255}", bad):
            rc, err = _cli(
                ["faces", "index", "--collection", settings.collection, "--external-id", bad, str(good)], capsys
            )
            assert rc == 2 and err["error"] == "InvalidParameterException", (bad, rc, err)
        with sessions.operator(settings, "tests"):
            rc, err = _cli(["privacy", "forget-person", bad], capsys)
        assert rc == 2, (bad, err)
        handled += 2
    for argv in (
        ["faces", "detect", str(tmp_path / "missing.jpg")],
        ["faces", "detect", str(tmp_path)],
        ["faces", "search", "--collection", "../../etc", str(good)],
        ["faces", "delete", "--collection", settings.collection, "../../not-a-uuid"],
    ):
        rc, err = _cli(argv, capsys)
        assert rc == 2 and err["error"], (argv, rc, err)
        handled += 1
    assert _disk_state(settings) == before
    assert handled >= 3 * len(corpus.bad_images(face)) + len(corpus.BAD_NAMES)
    # Still works afterwards.
    rc, _ = _cli(["faces", "detect", str(good)], capsys)
    assert rc == 0


def test_cli_as_a_real_process_exits_2_without_a_traceback(world, settings, tmp_path):
    services, face = world
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(corpus.png_bomb())
    env = {
        "FACEGATE_DATA_DIR": str(settings.data_dir),
        "FACEGATE_SECRETS_FILE": str(tmp_path / "none.toml"),
        "FACEGATE_PUBLISHER": "direct",
        "PATH": "/usr/bin:/bin",
    }
    for argv in (
        ["faces", "detect", str(bomb)],
        ["faces", "index", "--collection", settings.collection, "--external-id", "../../x", str(bomb)],
        ["privacy", "forget-person", "名前"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
        assert error in DOMAIN_ERRORS | {"ResourceNotFoundException"}


# --- the local HTTP API ---------------------------------------------------------------------
def _failed(reply) -> bool:
    """A refusal in the course's words: ``[FAILED]...``, the phone Lambda's Japanese texts, or
    API Gateway's ``message``."""
    from core.web import routes

    body = reply.json
    msg = str(body.get("msg", ""))
    return (
        msg.startswith("[FAILED]")
        or msg in (routes.PHONE_NO_FACE, routes.PHONE_TOO_LARGE, routes.PHONE_BAD_FORMAT)
        or "message" in body
    )


def _no_face_analysis(route: str, reply) -> bool:
    """/analyze of a decodable photo without a face: 200 with an empty analysis, as the course."""
    return route == "analyze" and reply.status == 200 and reply.json["payloads"]["analysis"] == []


def test_api_answers_every_hostile_request_with_a_4xx_and_stays_up(world, settings, api_key):
    services, face = world
    before = _disk_state(settings)
    tried = 0
    with running_api(services) as server:
        for route in ("search", "analyze"):
            url = f"{server.url}/{route}"
            for name, data in corpus.bad_images(face):
                for body in (
                    {"image_base64str": corpus.b64(data)},
                    {"image_base64str": "data:image/jpeg;base64," + corpus.b64(data)},
                ):
                    r = http(url, json.dumps(body), key=api_key)
                    assert (r.status in (400, 413, 421, 422, 423) and _failed(r)) or _no_face_analysis(route, r), (
                        route,
                        name,
                        r.status,
                        r.text,
                    )
                    tried += 1
            for name, body in corpus.bad_bodies(face):
                r = http(url, body, key=api_key)
                assert 400 <= r.status < 500 and _failed(r), (route, name, r.status, r.text[:300])
                assert "root:" not in r.text  # never a file from outside the buckets
                tried += 1
            # Oversize body: refused before it is read (API Gateway's 413).
            r = http(url, b'{"image_base64str": "' + b"A" * (7 * 1024 * 1024) + b'"}', key=api_key)
            assert r.status == 413 and r.json == {"message": "Request Too Long"}
            # Not a JSON content type, no key, wrong method: API Gateway's answers.
            assert http(url, "{}", key=None).status == 403
            assert http(url, None, key=api_key, method="GET").status == 403
            tried += 3
        # A photo with a ZIP appended decodes as the photo: a normal answer, nothing else.
        poly = corpus.polyglot_jpeg_zip(face)
        r = http(f"{server.url}/analyze", json.dumps({"image_base64str": corpus.b64(poly)}), key=api_key)
        assert r.status == 200 and len(r.json["payloads"]["analysis"]) == 1
        # Still up, still right.
        r = http(
            f"{server.url}/search", json.dumps({"image_base64str": corpus.b64(face), "threshold": 80}), key=api_key
        )
        assert r.status == 200 and r.json["msg"].startswith("[SUCCEEDED]")
    assert _disk_state(settings) == before
    assert tried > 2 * (2 * len(corpus.bad_images(face)) + len(corpus.bad_bodies(face)))


# --- the pages ------------------------------------------------------------------------------
def test_camera_page_explains_every_bad_upload(world, settings):
    """Every hostile upload gets a sentence and stores nothing. The one photo among them (a
    face JPEG with 6 MB of trailing bytes, over Rekognition's 5 MB) is shrunk and identified
    since issue 17 §11: it must show its verdict, never a silent page; over the 40 MB upload
    limit the same photo is refused as too large."""
    from core.images.codec import MAX_IMAGE_BYTES, MAX_UPLOAD_BYTES

    services, face = world
    before = _disk_state(settings)
    at = _start(None)  # the camera is a viewer's page
    bad = [(n, d) for n, d in corpus.bad_images(face) if not n.startswith("oversize")]
    bad.append(("oversize-upload.jpg", face + b"\x00" * (MAX_UPLOAD_BYTES + 1)))
    for name, data in bad:
        # The uploader only takes .jpg/.jpeg/.png names; the content is what an attacker controls.
        at.file_uploader(key="camera_upload").set_value((name.rsplit(".", 1)[0] + ".jpg", data, "image/jpeg")).run()
        assert not at.exception, (name, at.exception)
        shown = [e.value for e in at.error]
        assert shown and any(("画像" in m or "顔" in m or "入力" in m) for m in shown), (name, shown)
    assert _disk_state(settings) == before

    (name, big) = next((n, d) for n, d in corpus.bad_images(face) if n.startswith("oversize"))
    assert len(big) > MAX_IMAGE_BYTES  # what the Web API refuses with 413
    at.file_uploader(key="camera_upload").set_value((name, big, "image/jpeg")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    verdict = " ".join(str(e.value) for e in at.get("markdown") + at.get("info") + at.get("success"))
    assert "人物を特定できませんでした" in verdict and "ドアは閉じたままです" in verdict, verdict  # penny: nobody
    stored = [o for o in services.objects.list_objects(settings.photos_bucket, "") if o.key.endswith(".jpg")]
    photo = next(o for o in stored if "/" not in o.key)
    assert photo.size <= MAX_IMAGE_BYTES, photo.size  # shrunk: the trailing 6 MB are gone
    assert _disk_state(settings)["faces"] == before["faces"]


def test_people_page_explains_bad_files_and_keeps_hostile_names_as_text(world, settings, admin):
    """Bad files: each explained, nothing stored. Hostile names: a name is any text people read
    (「山田 太郎」, issue 17 §12), so each is either refused with a sentence or kept as text
    beside a safe id — never a path, a key or Markdown."""
    services, face = world
    before = _disk_state(settings)
    at = _start(admin.token)
    at.switch_page(str(ROOT / "pages" / "people.py")).run()
    name_field = lambda: next(t for t in at.text_input if t.label.startswith("名前"))  # noqa: E731
    name_field().input("Mallory")
    at.file_uploader[0].set_value(
        [(n.rsplit(".", 1)[0] + ".png", d, "image/png") for n, d in corpus.bad_images(face)[:12]]
    )
    at.button(key="enrol_button").click().run()
    assert not at.exception, at.exception
    assert "Mallory: 0 / 12" in texts(at)
    assert _disk_state(settings) == before

    for bad in corpus.BAD_NAMES[:12]:
        name_field().input(bad)
        at.file_uploader[0].set_value(("a.jpg", face, "image/jpeg"))
        at.button(key="enrol_button").click().run()
        assert not at.exception, (bad, at.exception)
        seen = texts(at)
        refused = any(m in seen for m in ("この名前は使えません", "名前を入力してください"))
        enrolled = "1 / 1 枚を登録しました" in seen
        assert refused or enrolled or "登録の前に確かめてください" in seen, (bad, seen[-400:])
        if "登録の前に確かめてください" in seen:  # the same face again under another name
            at.button(key="enrol_cancel").click().run()
    ids = set(services.faces.faces_by_external_id(settings.collection))
    assert all(re.fullmatch(r"[a-zA-Z0-9_.\-:]{1,255}", i) and set(i) - {"."} for i in ids), ids
    keys = [o.key for o in services.objects.list_objects(settings.faces_bucket, "")]
    assert all(k.split("/")[0] == "people" and k.split("/")[1] in ids for k in keys), keys
    for p in people.list_people(services):  # shown as typed: the Markdown is escaped
        assert any(m.value == f"**{_md(p.display_name)}**" for m in at.markdown), p.display_name
    _disk_state(settings)  # integrity, permissions, nothing outside the data dir


def _md(text: str) -> str:
    from pages._shared import md

    return md(text)
