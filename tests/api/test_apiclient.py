"""The API-client port: the in-process adapter and the HTTP adapter (against the real local
server) answer the same questions the same way, through one request/response path."""

from __future__ import annotations

import socket

import pytest

from core.errors import (
    AccessDenied,
    ConfigError,
    ImageTooLarge,
    InvalidImageFormat,
    InvalidParameter,
    NoFaceInImage,
    ServiceUnavailable,
)
from core.web.client.http import HttpFaceApi
from core.web.client.local import LocalFaceApi
from core.web.client.port import AnalysisAnswer, SearchAnswer
from tests.api.conftest import png_bomb, to_jpeg


@pytest.fixture(params=["in-process", "http"])
def client(request, world, server, api_key):
    if request.param == "in-process":
        return LocalFaceApi(world.settings, world.services.faces, world.services.objects)
    return HttpFaceApi(server.url, api_key)


def test_search_identifies_and_reports_unknown_people(client, world):
    answer = client.search(to_jpeg(world.people["howard"][4]))
    assert isinstance(answer, SearchAnswer)
    assert answer.best.person == "howard" and answer.best.similarity >= 80
    assert answer.request_id and "timestamp" in answer.payloads
    assert client.search(world.people["penny"][2].read_bytes()).matches == []  # PNG, unknown person
    loose = client.search(to_jpeg(world.people["howard"][4]), threshold=0)
    assert {m.person for m in loose.matches} == {"amy", "howard", "leonard"}
    assert [m.similarity for m in loose.matches] == sorted((m.similarity for m in loose.matches), reverse=True)


def test_device_variant_through_the_client(client, world):
    key = "image03_20240401090000.jpg"
    world.services.objects.put_object(world.settings.photos_bucket, key, to_jpeg(world.people["leonard"][2]))
    answer = client.search(bucket_name=world.settings.photos_bucket, file_name=key)
    assert answer.best.person == "leonard"
    assert len(client.analyze(bucket_name=world.settings.photos_bucket, file_name=key).faces) == 1


def test_analyze_returns_face_details_or_nothing(client, world, no_face_jpeg):
    answer = client.analyze(to_jpeg(world.people["amy"][2]))
    assert isinstance(answer, AnalysisAnswer) and len(answer.faces) == 1 and answer.timestamp
    assert client.analyze(no_face_jpeg).faces == []


def test_errors_come_back_as_the_same_domain_errors(client, no_face_jpeg):
    with pytest.raises(NoFaceInImage):
        client.search(no_face_jpeg)
    with pytest.raises(ImageTooLarge):
        client.search(png_bomb())
    with pytest.raises(InvalidImageFormat):
        client.search(b"GIF89a not a supported photo")
    with pytest.raises(InvalidParameter):
        client.search(bucket_name="facegate-photos", file_name="never_20200101000000.jpg")
    with pytest.raises(InvalidParameter):
        client.search(to_jpeg(no_face_jpeg), threshold=101)
    with pytest.raises(ImageTooLarge):  # refused before sending: over the 6 MB request limit
        client.search(b"\xff\xd8" + b"\0" * (5 * 1024 * 1024))


def test_both_adapters_give_identical_answers(world, server, api_key):
    image = to_jpeg(world.people["amy"][3])
    local = LocalFaceApi(world.settings, world.services.faces, world.services.objects).search(image)
    remote = HttpFaceApi(server.url, api_key).search(image)
    strip = lambda a: {k: v for k, v in a.payloads.items() if k != "timestamp"}  # noqa: E731
    assert local.matches == remote.matches and strip(local) == strip(remote)


def test_http_client_reports_a_bad_key_and_an_unreachable_api(server):
    with pytest.raises(AccessDenied):
        HttpFaceApi(server.url, "wrong-key-" * 4).search(b"\xff\xd8\xff")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ServiceUnavailable):
        HttpFaceApi(f"http://127.0.0.1:{closed_port}", "k" * 40, timeout=5).search(b"\xff\xd8\xff")
    assert "k" * 40 not in repr(HttpFaceApi(server.url, "k" * 40))


def test_each_world_has_its_client(world):
    assert isinstance(world.services.api, LocalFaceApi)  # aws: HttpFaceApi (tests/aws/test_services.py)
    client = HttpFaceApi("", "")  # what the aws world builds before `deploy up` wrote the URL
    with pytest.raises(ConfigError, match="FACEGATE_API_URL"):
        client.search(b"\xff\xd8\xff")
