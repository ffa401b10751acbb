"""The Lambda handlers and ``core.web.routes`` in process, with API Gateway proxy events and the
real local world (enrolled faces, real images, real bad inputs)."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import datetime

import pytest

from core.web import routes
from tests.api.conftest import data_uri, png_bomb, to_jpeg, world_env


def event(
    route: str, body, method: str = "POST", request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", b64: bool = False
) -> dict:
    """An API Gateway REST (Lambda proxy, format 1.0) event as AWS sends it."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if b64:
        body = base64.b64encode(body.encode()).decode()
    return {
        "resource": f"/{route}",
        "path": f"/{route}",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "x-api-key": "k" * 40},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": f"/{route}",
            "httpMethod": method,
            "path": f"/prod/{route}",
            "stage": "prod",
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def call(world, route, body, **kw):
    response = routes.handle_event(event(route, body, **kw), world.services)
    assert isinstance(response["body"], str)  # proxy integration needs a string body
    return response["statusCode"], (json.loads(response["body"]) if response["body"] else None), response


def matched(body) -> list[str]:
    return [m["Face"]["ExternalImageId"] for m in body["payloads"]["FaceMatches"]]


# --- success shapes ------------------------------------------------------------------------


def test_search_phone_variant_data_uri_shape_exactly_as_the_course(world):
    status, body, response = call(
        world, "search", {"image_base64str": data_uri(to_jpeg(world.people["amy"][1])), "threshold": 80}
    )
    assert status == 200
    assert set(body) == {"msg", "payloads"} and body["msg"] == "[SUCCEEDED]Rekognition done"
    payloads = body["payloads"]
    datetime.strptime(payloads["timestamp"], "%Y-%m-%d %H:%M:%S")
    assert {"SearchedFaceBoundingBox", "SearchedFaceConfidence", "FaceMatches", "FaceModelVersion"} <= set(payloads)
    assert matched(body) == ["amy"]
    assert payloads["FaceMatches"][0]["Similarity"] >= 80
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert response["headers"]["X-Request-Id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_search_bare_base64_png_and_unknown_person_matches_nobody(world):
    raw = base64.b64encode(world.people["penny"][0].read_bytes()).decode()
    status, body, _ = call(world, "search", {"image_base64str": raw})
    assert status == 200 and body["payloads"]["FaceMatches"] == []


def test_threshold_defaults_to_80(world):
    image = data_uri(to_jpeg(world.people["howard"][1]))
    _, everyone, _ = call(world, "search", {"image_base64str": image, "threshold": 0})
    _, default, _ = call(world, "search", {"image_base64str": image})
    _, explicit, _ = call(world, "search", {"image_base64str": image, "threshold": 80})
    assert sorted(matched(everyone)) == ["amy", "howard", "leonard"]  # threshold 0 keeps all three
    assert matched(default) == matched(explicit) == ["howard"]


def test_body_as_json_string_single_quotes_and_base64_encoded_body(world):
    image = base64.b64encode(to_jpeg(world.people["leonard"][2])).decode()
    as_string = json.dumps(json.dumps({"image_base64str": image, "threshold": "80"}))
    single = "{'image_base64str': '" + image + "', 'threshold': 80}"
    for body, b64 in ((as_string, False), (single, False), (json.dumps({"image_base64str": image}), True)):
        status, out, _ = call(world, "search", body, b64=b64)
        assert status == 200, out
        assert matched(out) == ["leonard"]


def test_device_variant_reads_the_object_store(world):
    key = "image01_20190808181200.jpg"
    world.services.objects.put_object(world.settings.photos_bucket, key, to_jpeg(world.people["amy"][3]), "image/jpeg")
    status, body, _ = call(
        world, "search", {"file_name": key, "bucket_name": world.settings.photos_bucket, "threshold": 90}
    )
    assert status == 200 and matched(body) == ["amy"]


def test_analyze_shape(world):
    status, body, response = call(world, "analyze", {"image_base64str": data_uri(to_jpeg(world.people["penny"][1]))})
    assert status == 200 and body["msg"] == "[SUCCEEDED]Analysis done"
    assert set(body["payloads"]) == {"timestamp", "analysis"}
    faces = body["payloads"]["analysis"]
    assert len(faces) == 1
    assert {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality", "Smile", "EyesOpen", "MouthOpen"} <= set(
        faces[0]
    )
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"


def test_options_preflight_answers_cors_without_a_body(world):
    status, body, response = call(world, "search", None, method="OPTIONS")
    assert status == 200 and body is None
    assert "POST" in response["headers"]["Access-Control-Allow-Methods"]
    assert "x-api-key" in response["headers"]["Access-Control-Allow-Headers"].lower()


# --- every error code with a real bad input ------------------------------------------------


def test_no_face_is_421_on_search_and_404_on_analyze(world, no_face_jpeg):
    body = {"image_base64str": data_uri(no_face_jpeg)}
    status, out, _ = call(world, "search", body)
    assert status == 421 and out["msg"] == "[FAILED]No face found"
    status, out, _ = call(world, "analyze", body)
    assert status == 404 and out["msg"] == "[FAILED]No face found"


def test_too_many_pixels_is_422_and_too_many_bytes_in_the_store_is_422(world):
    status, out, _ = call(world, "search", {"image_base64str": data_uri(png_bomb(), "image/png")})
    assert status == 422 and out["msg"].startswith("[FAILED]") and out["error"] == "ImageTooLargeException"
    world.services.objects.put_object(
        world.settings.photos_bucket, "huge_20240101000000.jpg", b"\xff\xd8\xff\xe0" + os.urandom(5 * 1024 * 1024 + 10)
    )
    status, out, _ = call(
        world, "analyze", {"file_name": "huge_20240101000000.jpg", "bucket_name": world.settings.photos_bucket}
    )
    assert status == 422


@pytest.mark.parametrize(
    "image",
    [
        base64.b64encode(b"this is a text file, not a photo").decode(),
        "data:image/jpeg;base64,@@@not*base64@@@",
        "TRUNCATED",
    ],
)
def test_unsupported_image_is_423(world, image):
    if image == "TRUNCATED":
        image = data_uri(to_jpeg(world.people["amy"][0])[:600])
    status, out, _ = call(world, "search", {"image_base64str": image})
    assert status == 423 and out["error"] == "InvalidImageFormatException"


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        "",
        {},
        {"threshold": 80},
        {"image_base64str": ""},
        {"image_base64str": 12},
        {"image_base64str": "aGVsbG8=", "threshold": 150},
        {"image_base64str": "aGVsbG8=", "threshold": "high"},
        {"image_base64str": "aGVsbG8=", "threshold": True},
        {"image_base64str": "aGVsbG8=", "file_name": "a.jpg", "bucket_name": "facegate-photos"},
        {"file_name": "../../apikeys.json", "bucket_name": "facegate-photos"},
        {"file_name": "/etc/passwd", "bucket_name": "facegate-photos"},
        {"file_name": "a.jpg", "bucket_name": "../data"},
        {"file_name": "a.jpg"},
        {"file_name": "never_uploaded_20200101000000.jpg", "bucket_name": "facegate-photos"},
    ],
)
def test_malformed_requests_are_400(world, body):
    status, out, _ = call(world, "search", body)
    assert status == 400, out
    assert out["msg"].startswith("[FAILED]") and out["error"]


def test_missing_object_is_400_invalid_s3_object(world):
    body = {"file_name": "nobody_20200101000000.jpg", "bucket_name": "facegate-photos"}
    status, out, _ = call(world, "analyze", body)
    assert status == 400 and out["error"] == "InvalidS3ObjectException"
    assert "nobody_20200101000000.jpg" in out["msg"]


def test_missing_collection_is_500_with_a_clear_message(world, tmp_path):
    from core.bootstrap import build_services
    from core.config import load_settings

    services = build_services(load_settings(env=world_env(tmp_path / "data", FACEGATE_COLLECTION="nowhere")))
    response = routes.handle_event(
        event("search", {"image_base64str": data_uri(to_jpeg(world.people["amy"][1]))}), services
    )
    body = json.loads(response["body"])
    assert response["statusCode"] == 500 and "nowhere" in body["msg"]


def test_unexpected_failure_is_500_without_a_stack_trace(world, tmp_path, caplog):
    from core.bootstrap import build_services
    from core.config import load_settings

    services = build_services(load_settings(env=world_env(tmp_path / "data")))
    db = tmp_path / "data" / "faces" / "faces.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    for extra in ("-wal", "-shm"):
        db.with_name(db.name + extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database " * 100)  # a corrupted store: a real internal failure
    response = routes.handle_event(
        event(
            "search",
            {"image_base64str": data_uri(to_jpeg(world.people["amy"][1])), "threshold": 80},
            request_id="req-500",
        ),
        services,
    )
    body = json.loads(response["body"])
    assert response["statusCode"] == 500
    assert body == {"msg": "[FAILED]Internal error (request id req-500)", "error": "InternalError"}
    assert "Traceback" not in response["body"] and "sqlite" not in response["body"].lower()
    assert any("req-500" in r.getMessage() for r in caplog.records)  # the log keeps what the body hides


def test_unknown_route_answers_like_api_gateway(world):
    response = routes.handle_event(event("delete-everything", {}), world.services)
    assert response["statusCode"] == 403
    assert json.loads(response["body"]) == {"message": "Missing Authentication Token"}


def test_request_id_is_generated_when_the_event_has_none(world):
    e = event("search", "{bad")
    del e["requestContext"]
    response = routes.handle_event(e, world.services)
    assert re.fullmatch(r"[0-9a-f-]{36}", response["headers"]["X-Request-Id"])


# --- the Lambda modules ----------------------------------------------------------------------


class Context:
    aws_request_id = "lambda-req-1"
    function_name = "facegate-search"


@pytest.fixture
def lambda_env(world, monkeypatch):
    from lambda_src import _container

    for name, value in world.env.items():
        if name.startswith("FACEGATE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(_container, "_services", None)
    yield
    if _container._services is not None:
        _container._services.close()


def test_lambda_handlers_build_services_once_and_answer_proxy_responses(lambda_env, world):
    from lambda_src import _container, analyze, search

    image = data_uri(to_jpeg(world.people["leonard"][3]))
    e = event("search", {"image_base64str": image})
    del e["requestContext"]["requestId"]
    response = search.handler(e, Context())
    assert response["statusCode"] == 200 and matched(json.loads(response["body"])) == ["leonard"]
    assert response["headers"]["X-Request-Id"] == "lambda-req-1"
    built = _container._services
    response = analyze.handler(event("analyze", {"image_base64str": image}), Context())
    assert response["statusCode"] == 200
    assert _container._services is built  # once per container


def test_lambda_console_test_event_is_the_body_itself(lambda_env, world):
    from lambda_src import search

    key = "console_20240102030405.jpg"
    world.services.objects.put_object(world.settings.photos_bucket, key, to_jpeg(world.people["howard"][2]))
    response = search.handler(
        {"file_name": key, "bucket_name": world.settings.photos_bucket, "threshold": 80}, Context()
    )
    assert response["statusCode"] == 200 and matched(json.loads(response["body"])) == ["howard"]


def test_lambda_with_a_broken_environment_answers_500_not_a_crash(monkeypatch, tmp_path):
    from lambda_src import _container, search

    monkeypatch.setattr(_container, "_services", None)
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACEGATE_BACKEND", "mainframe")
    response = search.handler(event("search", {"image_base64str": "aGVsbG8="}), Context())
    body = json.loads(response["body"])
    assert response["statusCode"] == 500 and "FACEGATE_BACKEND" in body["msg"]


def test_device_variant_reads_only_the_photos_bucket(world):
    # An enrolment photo in the faces bucket must not be searchable through the API.
    world.services.objects.put_object(world.settings.faces_bucket, "amy/1.png", world.people["amy"][0].read_bytes())
    status, out, _ = call(world, "search", {"file_name": "amy/1.png", "bucket_name": world.settings.faces_bucket})
    assert status == 400 and "FACEGATE_PHOTOS_BUCKET" in out["msg"]
