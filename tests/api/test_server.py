"""The local API server as a real child process (``python -m core api``), over real HTTP:
the course's two client flows, API keys, the gateway's own answers, and 16 clients at once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from tests.api.conftest import ROOT, data_uri, http, to_jpeg


def upload_like_the_course_device(world, path, stem: str) -> str:
    """Step 1's device: ``<stem>_<YYYYmmddHHMMSS>.jpg`` into the photos bucket."""
    key = f"{stem}_{datetime.now():%Y%m%d%H%M%S}.jpg"
    world.services.objects.put_object(world.settings.photos_bucket, key, to_jpeg(path), "image/jpeg")
    return key


def test_course_device_flow_upload_then_search_by_file_name(server, world, api_key):
    key = upload_like_the_course_device(world, world.people["howard"][3], "image01")
    reply = http(
        f"{server.url}/search",
        json.dumps({"file_name": key, "bucket_name": world.settings.photos_bucket, "threshold": 80}),
        key=api_key,
    )
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["msg"] == "[SUCCEEDED]Rekognition done"
    best = body["payloads"]["FaceMatches"][0]
    assert best["Face"]["ExternalImageId"] == "howard" and best["Similarity"] >= 80
    assert reply.headers["access-control-allow-origin"] == "*" and reply.headers["x-request-id"]


def test_course_phone_flow_data_uri_search_and_analyze_under_the_stage_path(server, world, api_key):
    image = data_uri(to_jpeg(world.people["amy"][4]))
    reply = http(f"{server.url}/prod/search", json.dumps({"image_base64str": image, "threshold": 80}), key=api_key)
    assert reply.status == 200
    assert [m["Face"]["ExternalImageId"] for m in reply.json["payloads"]["FaceMatches"]] == ["amy"]
    reply = http(f"{server.url}/prod/analyze", json.dumps({"image_base64str": image}), key=api_key)
    assert reply.status == 200 and reply.json["msg"] == "[SUCCEEDED]Analysis done"
    assert len(reply.json["payloads"]["analysis"]) == 1


def test_every_course_error_code_over_http(server, world, api_key, no_face_jpeg):
    cases = [
        ("search", {"image_base64str": data_uri(no_face_jpeg)}, 421, "画像内に人物の顔を認識出来ませんでした"),
        (
            "search",
            {"image_base64str": "data:text/plain;base64,aGVsbG8gd29ybGQ="},
            423,
            "画像のフォーマットが異なります",
        ),
        ("search", {"file_name": "../../apikeys.json", "bucket_name": "facegate-photos"}, 400, "[FAILED]"),
        ("analyze", {"file_name": "missing_20200101000000.jpg", "bucket_name": "facegate-photos"}, 400, "[FAILED]"),
    ]
    for route, body, status, text in cases:
        reply = http(f"{server.url}/{route}", json.dumps(body), key=api_key)
        assert reply.status == status, (route, body, reply.text)
        assert reply.json["msg"].startswith(text)
        assert reply.headers["access-control-allow-origin"] == "*" and reply.headers["x-request-id"]
    reply = http(f"{server.url}/analyze", json.dumps({"image_base64str": data_uri(no_face_jpeg)}), key=api_key)
    assert reply.status == 200 and reply.json["payloads"]["analysis"] == []  # no face: 200, as the course
    reply = http(f"{server.url}/search", "{'image_base64str': oops", key=api_key)
    assert reply.status == 400


def test_api_key_required_and_preflight_is_open(server, api_key):
    body = json.dumps({"image_base64str": "aGVsbG8="})
    for key in (None, "", "x" * 40, api_key[:-1] + ("A" if api_key[-1] != "A" else "B")):
        reply = http(f"{server.url}/search", body, key=key)
        assert (reply.status, reply.json) == (403, {"message": "Forbidden"})
    reply = http(
        f"{server.url}/search",
        None,
        method="OPTIONS",
        headers={
            "Origin": "https://phone.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert reply.status == 200 and reply.text == ""
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "x-api-key" in reply.headers["access-control-allow-headers"].lower()


def test_unknown_routes_and_methods_answer_like_api_gateway(server, api_key):
    for method, path in (("POST", "/faces"), ("GET", "/search"), ("DELETE", "/analyze"), ("POST", "/a/b/search")):
        reply = http(f"{server.url}{path}", "{}" if method == "POST" else None, key=api_key, method=method)
        assert (reply.status, reply.json) == (403, {"message": "Missing Authentication Token"}), (method, path)


def test_body_over_six_megabytes_is_413_without_reading_it(server, api_key):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"x-api-key: {api_key}\r\nContent-Length: {6 * 1024 * 1024 + 1}\r\n\r\n".encode()
            + b'{"image_base64str": "'
        )  # the rest is never sent: the server must answer anyway
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == {"message": "Request Too Long"}


def test_revoked_key_stops_working_on_the_running_server(server, world):
    env = dict(world.env)
    created = subprocess.run(
        [sys.executable, "-m", "core", "api-key", "create", "--name", "phone"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 20 and " " not in key
    assert key not in (world.settings.data_dir / "apikeys.json").read_text()  # stored hashed
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "core", "api-key", "list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    key_id = next(k["key_id"] for k in listed if k["name"] == "phone")
    assert all("sha256" not in k and key not in json.dumps(k) for k in listed)
    body = json.dumps({"image_base64str": "aGVsbG8="})
    assert http(f"{server.url}/search", body, key=key).status == 423  # accepted: the image is the problem
    subprocess.run(
        [sys.executable, "-m", "core", "api-key", "revoke", key_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert http(f"{server.url}/search", body, key=key).status == 403


def test_sixteen_concurrent_clients_get_their_own_answers(server, world, api_key, no_face_jpeg):
    # 16 different requests at once: 4 people x 3 photos (penny is unknown) + 4 without a face.
    jobs = [
        (person, to_jpeg(world.people[person][i]))
        for person in ("amy", "howard", "leonard", "penny")
        for i in (1, 2, 4)
    ]
    jobs += [(None, no_face_jpeg)] * 4
    assert len(jobs) == 16
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def client(i, image):
        barrier.wait(timeout=30)
        results[i] = http(
            f"{server.url}/search", json.dumps({"image_base64str": data_uri(image)}), key=api_key, timeout=120
        )

    threads = [threading.Thread(target=client, args=(i, image)) for i, (_, image) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    ids = set()
    for (person, _), reply in zip(jobs, results, strict=True):
        assert reply is not None
        ids.add(reply.headers["x-request-id"])
        if person is None:
            assert reply.status == 421
            continue
        assert reply.status == 200, reply.text
        names = [m["Face"]["ExternalImageId"] for m in reply.json["payloads"]["FaceMatches"]]
        assert names == ([] if person == "penny" else [person]), person
    assert len(ids) == 16


def test_server_refuses_a_taken_port_with_a_clear_error(world):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "core", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=world.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Address already in use" in proc.stderr


def test_the_web_api_runs_in_process_on_a_thread(world, api_key):
    from core.web.app import create_app
    from core.web.server import running

    with running(create_app(world.services)) as server:
        image = data_uri(to_jpeg(world.people["leonard"][4]))
        reply = http(f"{server.url}/search", json.dumps({"image_base64str": image}), key=api_key)
        assert reply.status == 200
        assert [m["Face"]["ExternalImageId"] for m in reply.json["payloads"]["FaceMatches"]] == ["leonard"]


def test_worker_processes_share_the_port_and_leave_with_the_parent(world, api_key):
    from tests.api.conftest import ServerProcess

    env = dict(world.env)
    srv = ServerProcess(env, "--workers", "2")
    try:
        children: list[int] = []
        workers: list[int] = []
        for _ in range(200):  # the workers start just after the address line is printed
            children = [int(c) for c in Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()]
            # uvicorn's supervisor spawns the workers (multiprocessing also starts its resource tracker)
            workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        images = [to_jpeg(world.people[p][1]) for p in ("amy", "howard", "leonard", "amy")]
        results = [None] * len(images)

        def client(i):
            results[i] = http(f"{srv.url}/search", json.dumps({"image_base64str": data_uri(images[i])}), key=api_key)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        names = [[m["Face"]["ExternalImageId"] for m in r.json["payloads"]["FaceMatches"]] for r in results]
        assert names == [["amy"], ["howard"], ["leonard"], ["amy"]]
    finally:
        srv.stop()
    for pid in children:
        for _ in range(100):
            stat = Path(f"/proc/{pid}/stat")
            if not stat.exists() or stat.read_text().split()[2] == "Z":
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"worker {pid} outlived the server")
