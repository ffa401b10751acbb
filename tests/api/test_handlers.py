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


def test_no_face_phone_search_is_421_in_the_courses_words_and_analyze_is_200_empty(world, no_face_jpeg):
    body = {"image_base64str": data_uri(no_face_jpeg)}
    status, out, _ = call(world, "search", body)
    assert status == 421 and out == {"msg": "画像内に人物の顔を認識出来ませんでした", "error": "NoFaceInImage"}
    status, out, _ = call(world, "analyze", body)
    assert status == 200 and out["msg"] == "[SUCCEEDED]Analysis done" and out["payloads"]["analysis"] == []
    datetime.strptime(out["payloads"]["timestamp"], "%Y-%m-%d %H:%M:%S")


def test_no_face_device_search_is_400_as_the_device_lambda_prints_it(world, no_face_jpeg):
    world.services.objects.put_object(world.settings.photos_bucket, "wall_20240101000000.jpg", no_face_jpeg)
    device = {"file_name": "wall_20240101000000.jpg", "bucket_name": world.settings.photos_bucket}
    status, out, _ = call(world, "search", {**device, "threshold": 80})
    assert status == 400 and out["error"] == "NoFaceInImage"
    assert out["msg"].startswith(
        "[FAILED]An error occurred (InvalidParameterException) when calling the SearchFacesByImage operation: "
    )
    status, out, _ = call(world, "analyze", device)
    assert status == 200 and out["payloads"]["analysis"] == []


def test_too_many_pixels_is_422_and_an_object_over_15_mb_is_400_image_too_large(world):
    status, out, _ = call(world, "search", {"image_base64str": data_uri(png_bomb(), "image/png")})
    assert status == 422 and out == {
        "msg": "画像のサイズが大きすぎます（制限:15MB）",
        "error": "ImageTooLargeException",
    }
    world.services.objects.put_object(
        world.settings.photos_bucket, "huge_20240101000000.jpg", b"\xff\xd8\xff\xe0" + os.urandom(15 * 1024 * 1024 + 10)
    )
    status, out, _ = call(
        world, "analyze", {"file_name": "huge_20240101000000.jpg", "bucket_name": world.settings.photos_bucket}
    )
    assert status == 400 and out["error"] == "ImageTooLargeException"
    assert out["msg"].startswith("[FAILED]An error occurred (ImageTooLargeException) when calling the DetectFaces")


def test_device_variant_reads_objects_up_to_15_mb_as_rekognition_reads_s3(world):
    """Over the 5 MB Bytes limit, under the 15 MB S3 one: the route hands Rekognition an S3Object."""
    import io

    from PIL import Image

    big = io.BytesIO()
    Image.open(world.people["amy"][2]).convert("RGB").resize((1800, 1800)).save(big, format="PNG", compress_level=0)
    assert 5 * 1024 * 1024 < len(big.getvalue()) < 15 * 1024 * 1024
    world.services.objects.put_object(world.settings.photos_bucket, "big_20240101000000.png", big.getvalue())
    device = {"file_name": "big_20240101000000.png", "bucket_name": world.settings.photos_bucket}
    status, out, _ = call(world, "search", device)
    assert status == 200 and matched(out) == ["amy"]


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
    assert out["msg"].startswith("[FAILED]An error occurred (InvalidS3ObjectException) when calling the DetectFaces")
    assert "nobody_20200101000000.jpg" in out["msg"]


def test_missing_collection_names_the_collection_in_use_and_how_to_change_it(world, tmp_path):
    from core.bootstrap import build_services
    from core.config import load_settings

    services = build_services(load_settings(env=world_env(tmp_path / "data", FACEGATE_COLLECTION="nowhere")))
    services.faces.create_collection(CollectionId="yamada-authentication-collection")
    image = {"image_base64str": data_uri(to_jpeg(world.people["amy"][1]))}
    response = routes.handle_event(event("search", image), services)
    body = json.loads(response["body"])
    assert response["statusCode"] == 500 and body["error"] == "ResourceNotFoundException"  # the phone Lambda: 500
    assert "'nowhere'" in body["msg"] and "yamada-authentication-collection" in body["msg"]
    assert "python -m core faces use-collection" in body["msg"]
    services.objects.put_object(
        services.settings.photos_bucket, "x_20240101000000.jpg", to_jpeg(world.people["amy"][1])
    )
    device = {"file_name": "x_20240101000000.jpg", "bucket_name": services.settings.photos_bucket}
    response = routes.handle_event(event("search", device), services)
    assert response["statusCode"] == 400  # the device Lambda: 400 for whatever Rekognition refused


def test_a_collection_chosen_meanwhile_is_searched_without_a_restart(world, tmp_path, monkeypatch):
    """``python -m core faces use-collection`` (or the Settings page) writes settings.json; a
    running Web API searches the new collection at its next request."""
    from core.access.sessions import operator
    from core.bootstrap import build_services
    from core.config import load_settings, save_user_settings

    monkeypatch.delenv("FACEGATE_COLLECTION", raising=False)
    settings = load_settings(env=world_env(tmp_path / "data"))
    services = build_services(settings)
    services.faces.create_collection(CollectionId="yamada-authentication-collection")
    services.faces.index_faces(
        CollectionId="yamada-authentication-collection",
        Image={"Bytes": world.people["howard"][0].read_bytes()},
        ExternalImageId="Taro_Yamada",
    )
    image = {"image_base64str": data_uri(to_jpeg(world.people["howard"][1]))}
    assert routes.handle_event(event("search", image), services)["statusCode"] == 500  # 'facegate' does not exist
    with operator(settings, "tests"):
        save_user_settings(settings, {"collection": "yamada-authentication-collection"})
    response = routes.handle_event(event("search", image), services)
    assert response["statusCode"] == 200 and matched(json.loads(response["body"])) == ["Taro_Yamada"]


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
    assert body == {"msg": "[FAILED]An error occurred : Internal error (request id req-500)", "error": "InternalError"}
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


def test_device_variant_reads_any_existing_bucket_but_never_the_faces_or_logs_bucket(world):
    """The course's device uploads to its own bucket (e.g. made with `aws s3 mb`): accepted.
    Enrolment photos (the faces bucket) and the rule engine's logs are not the API's to read."""
    world.services.objects.put_object(
        "target-faces-handson", "image01_20190808181200.jpg", to_jpeg(world.people["leonard"][4])
    )
    status, out, _ = call(
        world, "search", {"file_name": "image01_20190808181200.jpg", "bucket_name": "target-faces-handson"}
    )
    assert status == 200 and matched(out) == ["leonard"]
    world.services.objects.put_object(world.settings.faces_bucket, "amy/1.png", world.people["amy"][0].read_bytes())
    for bucket, key in ((world.settings.faces_bucket, "amy/1.png"), (world.settings.logs_bucket, "x.json")):
        status, out, _ = call(world, "search", {"file_name": key, "bucket_name": bucket})
        assert status == 400 and out["error"] == "AccessDeniedException", out
    status, out, _ = call(world, "search", {"file_name": "a.jpg", "bucket_name": "no-such-bucket-here"})
    assert status == 400 and out["error"] == "InvalidS3ObjectException"


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ("", "[FAILED]Data required"),
        ("{not json", "[FAILED]json decode error"),
        ("[1, 2]", "[FAILED]Invalid body type"),
        ({"file_name": "a.jpg"}, '[FAILED]key "bucket_name" not found'),
        ({"bucket_name": "b-photos", "file_name": ""}, '[FAILED]no value found for "file_name"'),
        (
            {"bucket_name": 12, "file_name": 3},
            '[FAILED]invalid value type: "bucket_name", invalid value type: "file_name"',
        ),
        ({"image_base64str": "aGVsbG8=", "threshold": "high"}, '[FAILED]invalid value type: "threshold"'),
        ({"image_base64": ""}, '[FAILED]no value found for "image_base64"'),
    ],
)
def test_malformed_bodies_in_the_courses_words(world, body, msg):
    status, out, _ = call(world, "search", body)
    assert status == 400 and out["msg"] == msg


def test_the_course_lambdas_image_base64_key_is_accepted(world):
    raw = base64.b64encode(to_jpeg(world.people["amy"][3])).decode()
    status, out, _ = call(world, "search", {"image_base64": raw, "threshold": 80})
    assert status == 200 and matched(out) == ["amy"]


def test_the_device_variant_hands_rekognition_an_s3_object(world):
    """As the course's Lambda: ``Image={"S3Object": ...}``; the API never reads the bytes."""
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(world.services.faces, name)

        def detect_faces(self, **kwargs):
            seen.append(kwargs["Image"])
            return world.services.faces.detect_faces(**kwargs)

    class Services:
        settings, objects, faces = world.services.settings, world.services.objects, Spy()

    world.services.objects.put_object(
        world.settings.photos_bucket, "s3o_20240101000000.jpg", to_jpeg(world.people["amy"][1])
    )
    body = {"file_name": "s3o_20240101000000.jpg", "bucket_name": world.settings.photos_bucket}
    response = routes.handle_event(event("analyze", body), Services())
    assert response["statusCode"] == 200
    assert seen == [{"S3Object": {"Bucket": world.settings.photos_bucket, "Name": "s3o_20240101000000.jpg"}}]
