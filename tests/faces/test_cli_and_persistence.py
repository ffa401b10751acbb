"""The command line round trip, persistence across processes, concurrent use, and a
kill -9 in the middle of enrolment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(data_dir, *args, check=True):
    env = {**os.environ, "FACEGATE_DATA_DIR": str(data_dir), "FACEGATE_SECRETS_FILE": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-m", "core", "faces", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    return proc


def test_cli_round_trip_across_processes(tmp_path, labelled):
    data = tmp_path / "data"
    assert cli(data, "create-collection", "office")["StatusCode"] == 200
    indexed = cli(data, "index", "--collection", "office", "--external-id", "Taro_Yamada", labelled["howard"][0])
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    # A new process sees what the previous one stored.
    found = cli(data, "search", "--collection", "office", "--threshold", "80", labelled["howard"][3])
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    listed = cli(data, "list", "--collection", "office")
    assert [f["FaceId"] for f in listed["Faces"]] == [face_id]
    detected = cli(data, "detect", labelled["howard"][3])
    assert len(detected["FaceDetails"]) == 1
    assert cli(data, "delete", "--collection", "office", face_id)["DeletedFaces"] == [face_id]
    assert cli(data, "search", "--collection", "office", labelled["howard"][3])["FaceMatches"] == []
    # Files hold biometric data: owner-only.
    assert (data / "faces" / "faces.db").stat().st_mode & 0o077 == 0


def test_cli_errors_are_json_on_stderr_with_exit_2(tmp_path, labelled):
    data = tmp_path / "data"
    proc = cli(data, "search", "--collection", "missing", labelled["amy"][0], check=False)
    assert proc.returncode == 2
    assert json.loads(proc.stderr)["error"] == "ResourceNotFoundException"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\x00" * 10)
    cli(data, "create-collection", "c")
    proc = cli(data, "search", "--collection", "c", junk, check=False)
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"] == "InvalidImageFormatException"
    proc = cli(data, "index", "--collection", "c", "--external-id", "../x", labelled["amy"][0], check=False)
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"] == "InvalidParameterException"
    proc = cli(data, "detect", tmp_path / "does-not-exist.jpg", check=False)
    assert proc.returncode == 2 and proc.stdout == ""


def test_concurrent_searches_while_enrolling(faces, labelled):
    """Several threads share one engine and store while another thread enrols."""
    faces.create_collection(CollectionId="c")
    faces.index_faces(CollectionId="c", Image={"Bytes": labelled["amy"][0].read_bytes()}, ExternalImageId="amy")
    probe = {"Bytes": labelled["amy"][1].read_bytes()}
    errors, results = [], []

    def search():
        try:
            for _ in range(4):
                m = faces.search_faces_by_image(CollectionId="c", Image=probe)["FaceMatches"]
                results.append(m[0]["Face"]["ExternalImageId"] if m else None)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def enrol():
        try:
            for path in labelled["penny"]:
                faces.index_faces(CollectionId="c", Image={"Bytes": path.read_bytes()}, ExternalImageId="penny")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(4)] + [threading.Thread(target=enrol)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert results == ["amy"] * 16
    assert faces.describe_collection(CollectionId="c")["FaceCount"] == 6


def test_kill_minus_9_during_enrolment_leaves_a_consistent_collection(tmp_path, labelled):
    data = tmp_path / "data"
    cli(data, "create-collection", "c")
    images = [str(p) for ps in labelled.values() for p in ps]
    script = textwrap.dedent(f"""
        import itertools, sys
        from pathlib import Path
        from core.faces.local import LocalFaceCollections
        f = LocalFaceCollections(Path({str(data)!r}))
        images = {images!r}
        for i, p in enumerate(itertools.cycle(images)):
            f.index_faces(CollectionId="c", Image={{"Bytes": Path(p).read_bytes()}}, ExternalImageId=f"p{{i}}")
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    from core.faces.local import LocalFaceCollections

    reader = LocalFaceCollections(data)  # another process reading while the writer writes
    probe = {"Bytes": Path(images[0]).read_bytes()}
    try:
        for i in range(6):  # let it write a few (searching meanwhile), then kill it mid-stream
            assert proc.stdout.readline()
            if i >= 1:
                hits = reader.search_faces_by_image(CollectionId="c", Image=probe, FaceMatchThreshold=90)
                assert hits["FaceMatches"] and hits["FaceMatches"][0]["Face"]["ExternalImageId"] == "p0"
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    db = data / "faces" / "faces.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
    con.close()
    assert rows >= 6
    listed = cli(data, "list", "--collection", "c")["Faces"]
    assert len(listed) == rows
    # The survivor collection is fully usable: search, and enrol more.
    found = cli(data, "search", "--collection", "c", "--threshold", "0", images[0])
    assert found["FaceMatches"]
    cli(data, "index", "--collection", "c", "--external-id", "after", images[1])
    assert len(cli(data, "list", "--collection", "c")["Faces"]) == rows + 1
