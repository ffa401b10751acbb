"""``deploy/openapi.yaml`` is the contract: the running local server is checked against it by
schemathesis (generated valid and invalid requests, then the course's real requests).

Checks: no 5xx for any generated request, every status code / content type / header /
body declared in the document, and the API key actually enforced.
"""

from __future__ import annotations

import json

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import ROOT, data_uri, http, to_jpeg  # noqa: E402

CONTRACT = ROOT / "deploy" / "openapi.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation and mode: each generated request costs ~5 ms (no face work)


@pytest.fixture(scope="module")
def contract(server):
    schema = schemathesis.openapi.from_path(CONTRACT)
    schema.config.update(base_url=server.url)
    return schema


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_contract_is_valid_openapi_and_names_both_routes():
    import yaml
    from openapi_spec_validator import validate

    document = yaml.safe_load(CONTRACT.read_text())
    validate(document)
    assert set(document["paths"]) == {"/search", "/analyze"}
    for path in document["paths"].values():
        assert path["post"]["security"] == [{"api_key": []}]
        assert path["options"]["security"] == []  # pre-flight carries no key
        assert path["post"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert document["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_conform(contract, api_key, mode):
    seen: dict[str, set[int]] = {}
    for operation in operations(contract):
        if operation.method.upper() != "POST":
            continue

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call_and_validate(headers={"x-api-key": api_key}, checks=CHECKS, timeout=60)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        run()
    # Generated data is never a face photo: what comes back is the validation answers.
    allowed = {400, 422, 423} | ({403} if mode == GenerationMode.NEGATIVE else set())  # negated key -> 403
    assert seen and all(codes <= allowed for codes in seen.values()), seen


def test_the_key_is_enforced_on_every_operation(contract):
    for operation in operations(contract):
        if operation.method.upper() != "POST":
            continue
        case = operation.Case(body={"image_base64str": "aGVsbG8="}, media_type="application/json")
        for headers in ({}, {"x-api-key": "not-a-key-" * 4}):
            response = case.call(headers=headers)
            assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
            case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])


def test_real_course_requests_conform(contract, api_key, world, no_face_jpeg):
    face = data_uri(to_jpeg(world.people["amy"][1]))
    key = "image02_20240301120000.jpg"
    world.services.objects.put_object(world.settings.photos_bucket, key, to_jpeg(world.people["leonard"][1]))
    device = {"file_name": key, "bucket_name": world.settings.photos_bucket}
    requests = [
        ("POST", "/search", {"image_base64str": face, "threshold": 80}, 200),
        ("POST", "/search", {**device, "threshold": 70}, 200),
        ("POST", "/search", {"image_base64str": data_uri(no_face_jpeg)}, 421),
        ("POST", "/analyze", {"image_base64str": face}, 200),
        ("POST", "/analyze", device, 200),
        ("POST", "/analyze", {"image_base64str": data_uri(no_face_jpeg)}, 200),
        ("POST", "/analyze", {"file_name": "gone_20240101000000.jpg", "bucket_name": "facegate-photos"}, 400),
    ]
    for method, path, body, status in requests:
        case = contract[path][method].Case(body=body, media_type="application/json")
        response = case.call_and_validate(headers={"x-api-key": api_key}, checks=CHECKS, timeout=60)
        assert response.status_code == status, (path, body, response.text[:300])
    for path in ("/search", "/analyze"):
        case = contract[path]["OPTIONS"].Case()
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 200


def test_gateway_answers_conform(server, api_key):
    # 413 is produced before the handler runs; check its declared shape by hand.
    big = json.dumps({"image_base64str": "A" * (6 * 1024 * 1024)})
    reply = http(f"{server.url}/search", big, key=api_key)
    assert reply.status == 413 and reply.json == {"message": "Request Too Long"}
