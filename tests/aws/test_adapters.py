"""The aws adapters: S3 against moto; Rekognition through botocore's Stubber (moto has no
Rekognition), which validates every request and every queued response against the real
service model. Plus the error mapping and botocore's standard retries."""

from __future__ import annotations

import boto3
import botocore.retries.standard
import pytest
from botocore.stub import ANY, Stubber

from core import errors
from core.aws.clients import RETRY_ATTEMPTS, aws_client, domain_error
from core.faces.aws import RekognitionFaceCollections
from core.objects.aws import S3ObjectStore
from tests.aws.conftest import REGION, make_bucket


@pytest.fixture
def s3_store(moto_session):
    make_bucket(moto_session, "facegate-photos")
    return S3ObjectStore(aws_client("s3", REGION, moto_session))


@pytest.fixture
def rekognition(aws_env):
    client = aws_client("rekognition", REGION, boto3.session.Session())
    with Stubber(client) as stub:
        yield RekognitionFaceCollections(client), stub
        stub.assert_no_pending_responses()


# ------------------------------------------------------------------ S3
def test_s3_objects_are_written_encrypted_and_read_back(s3_store, moto_session):
    s3_store.put_object("facegate-photos", "image01_20190808181200.jpg", b"\xff\xd8jpeg", "image/jpeg")
    head = moto_session.client("s3").head_object(Bucket="facegate-photos", Key="image01_20190808181200.jpg")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "image/jpeg"
    assert s3_store.get_object("facegate-photos", "image01_20190808181200.jpg") == b"\xff\xd8jpeg"
    assert s3_store.exists("facegate-photos", "image01_20190808181200.jpg")
    assert not s3_store.exists("facegate-photos", "nope.jpg")


def test_s3_listing_follows_every_page(s3_store, moto_session):
    client = moto_session.client("s3")
    for i in range(1003):  # more than one 1000-key page
        client.put_object(Bucket="facegate-photos", Key=f"logs/{i:05d}.json", Body=b"{}")
    client.put_object(Bucket="facegate-photos", Key="other.json", Body=b"{}")
    listed = s3_store.list_objects("facegate-photos", "logs/")
    assert len(listed) == 1003 and listed[0].key == "logs/00000.json" and listed[-1].size == 2


def test_s3_missing_things_are_domain_errors(s3_store):
    with pytest.raises(errors.ResourceNotFound, match="s3://facegate-photos/absent.jpg"):
        s3_store.get_object("facegate-photos", "absent.jpg")
    with pytest.raises(errors.ResourceNotFound):
        s3_store.list_objects("no-such-bucket-here")
    s3_store.delete_object("facegate-photos", "absent.jpg")  # as in S3: not an error


@pytest.mark.parametrize("key", ["../escape", "/abs", "a\x00b", ""])
def test_s3_unsafe_keys_are_refused_before_any_call(s3_store, key):
    with pytest.raises(errors.InvalidParameter):
        s3_store.put_object("facegate-photos", key, b"x")


# ------------------------------------------------------------------ Rekognition
def test_index_faces_passes_the_courses_parameters_through(rekognition):
    faces, stub = rekognition
    image = {"S3Object": {"Bucket": "facegate-faces", "Name": "Taro_Yamada.jpg"}}
    response = {
        "FaceRecords": [
            {
                "Face": {
                    "FaceId": "11111111-2222-3333-4444-555555555555",
                    "ExternalImageId": "Taro_Yamada",
                    "ImageId": "i",
                    "Confidence": 99.9,
                }
            }
        ],
        "FaceModelVersion": "7.0",
        "UnindexedFaces": [],
    }
    stub.add_response(
        "index_faces",
        response,
        {
            "CollectionId": "facegate",
            "Image": image,
            "ExternalImageId": "Taro_Yamada",
            "MaxFaces": 1,
            "QualityFilter": "AUTO",
            "DetectionAttributes": ["ALL"],
        },
    )
    out = faces.index_faces(
        CollectionId="facegate",
        Image=image,
        ExternalImageId="Taro_Yamada",
        MaxFaces=1,
        QualityFilter="AUTO",
        DetectionAttributes=["ALL"],
    )
    assert out == response  # ResponseMetadata removed, nothing else touched


def test_search_sends_bytes_or_s3_objects_natively(rekognition):
    faces, stub = rekognition
    for image in ({"Bytes": b"\xff\xd8jpeg"}, {"S3Object": {"Bucket": "facegate-photos", "Name": "a.jpg"}}):
        stub.add_response(
            "search_faces_by_image",
            {"FaceMatches": []},
            {
                "CollectionId": "facegate",
                "Image": image,
                "MaxFaces": 10,
                "FaceMatchThreshold": 80.0,
                "QualityFilter": "NONE",
            },
        )
        assert faces.search_faces_by_image(
            CollectionId="facegate", Image=image, MaxFaces=10, FaceMatchThreshold=80.0
        ) == {"FaceMatches": []}


def test_optional_parameters_left_out_are_not_sent(rekognition):
    faces, stub = rekognition
    stub.add_response("detect_faces", {"FaceDetails": []}, {"Image": {"Bytes": ANY}})
    stub.add_response("list_faces", {"Faces": []}, {"CollectionId": "c", "MaxResults": 1000})
    faces.detect_faces(Image={"Bytes": b"x"})
    faces.list_faces(CollectionId="c")


def test_a_response_off_the_service_model_is_caught(rekognition):
    from botocore.exceptions import ParamValidationError

    _faces, stub = rekognition
    with pytest.raises(ParamValidationError):
        stub.add_response("search_faces_by_image", {"FaceMatches": [{"Similarity": "high"}]})


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("InvalidParameterException", "There are no faces in the image. Should be at least 1.", errors.NoFaceInImage),
        ("InvalidParameterException", "Request has invalid parameters", errors.InvalidParameter),
        ("InvalidImageFormatException", "Request has invalid image format", errors.InvalidImageFormat),
        ("ImageTooLargeException", "Image size is too large", errors.ImageTooLarge),
        ("ResourceNotFoundException", "The collection id: nope does not exist", errors.CollectionNotFound),
        ("ResourceAlreadyExistsException", "The collection id: facegate already exists", errors.ResourceAlreadyExists),
        ("AccessDeniedException", "not authorized", errors.AccessDenied),
        ("ThrottlingException", "Slow down", errors.Throttled),
        ("ProvisionedThroughputExceededException", "over TPS", errors.Throttled),
        ("InternalServerError", "oops", errors.ServiceUnavailable),
    ],
)
def test_rekognition_errors_become_domain_errors_of_the_same_name(rekognition, code, message, expected):
    faces, stub = rekognition
    stub.add_client_error("search_faces_by_image", code, message)
    with pytest.raises(expected) as caught:
        faces.search_faces_by_image(CollectionId="facegate", Image={"Bytes": b"x"})
    assert type(caught.value) is expected
    assert message in caught.value.message


def test_an_unknown_aws_error_keeps_its_code():
    from botocore.exceptions import ClientError

    exc = domain_error(ClientError({"Error": {"Code": "KMSKeyDisabled", "Message": "key off"}}, "PutObject"))
    assert type(exc) is errors.FaceGateError and exc.to_dict() == {"error": "KMSKeyDisabled", "message": "key off"}


def test_bad_parameters_are_refused_by_the_service_model_before_sending(aws_env):
    client = aws_client("rekognition", REGION, boto3.session.Session())
    sent = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request))
    with pytest.raises(errors.InvalidParameter, match="CollectionId"):
        RekognitionFaceCollections(client).search_faces_by_image(CollectionId="", Image={"Bytes": b"x"})
    assert sent == []


def test_missing_credentials_say_what_to_do(monkeypatch):
    from botocore.exceptions import NoCredentialsError

    assert "standard chain" in domain_error(NoCredentialsError()).message


# ------------------------------------------------------------------ retries
def test_clients_retry_in_standard_mode_then_say_throttled(aws_env, monkeypatch):
    """botocore's own retry machinery (not a Stubber, which skips it) against a service that
    keeps throttling: the call is tried RETRY_ATTEMPTS times, then Throttled explains."""
    from botocore.awsrequest import AWSResponse

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    client = aws_client("rekognition", REGION, boto3.session.Session())
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS}
    attempts = []

    class Raw:
        def stream(self, **_):
            yield b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

    def throttled(request, **_):
        attempts.append(request.url)
        return AWSResponse(request.url, 400, {"x-amzn-errortype": "ThrottlingException"}, Raw())

    client.meta.events.register("before-send.rekognition", throttled)
    with pytest.raises(errors.Throttled, match="after retries"):
        RekognitionFaceCollections(client).list_collections()
    assert len(attempts) == RETRY_ATTEMPTS


def _worst_case_seconds(config) -> float:
    """Longest one call can take with ``config``: every attempt hits both timeouts, and
    standard mode sleeps up to min(2**(n-1), 20) s before retry n (botocore.retries.standard)."""
    attempts = config.retries["total_max_attempts"]
    backoff = sum(min(2 ** (n - 1), 20) for n in range(1, attempts))
    return attempts * (config.connect_timeout + config.read_timeout) + backoff


def test_inside_lambda_every_call_gives_up_before_api_gateway(aws_env, monkeypatch):
    from core.aws.clients import API_GATEWAY_TIMEOUT_SECONDS, client_config

    assert _worst_case_seconds(client_config(env={})) > API_GATEWAY_TIMEOUT_SECONDS  # why a second profile exists
    inside = client_config(env={"AWS_LAMBDA_FUNCTION_NAME": "facegate-search"})
    assert _worst_case_seconds(inside) < API_GATEWAY_TIMEOUT_SECONDS
    # the clients the Lambda's services are built with carry it
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "facegate-search")
    client = aws_client("rekognition", REGION, boto3.session.Session())
    assert client.meta.config.read_timeout == inside.read_timeout
    assert _worst_case_seconds(client.meta.config) < API_GATEWAY_TIMEOUT_SECONDS
    from core.deploy.template import render_template

    fn = render_template()["Resources"]["SearchFunction"]["Properties"]
    assert fn["Timeout"] <= API_GATEWAY_TIMEOUT_SECONDS
