"""boto3 clients for the aws world, and the one mapping from AWS errors to domain errors.

Credentials come only from boto3's standard chain (environment, shared profile, SSO,
instance or task role): nothing here reads, stores or logs a key. Throttling and transient
errors are retried by botocore's ``standard`` retry mode (exponential backoff with jitter);
when they persist, the caller gets ``Throttled`` or ``ServiceUnavailable`` with a message
that says what to do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import boto3
import botocore.config
import botocore.exceptions

from core import errors

# botocore's standard mode: 3 attempts by default; we allow a few more because the
# course's usage plan and Rekognition's per-second TPS limits are easy to hit in bursts.
RETRY_ATTEMPTS = 5

# Inside the Web API's Lambda functions every AWS call must give up before API Gateway does
# (29 s integration timeout, also the functions' own Timeout): botocore's defaults (60 s read
# timeout) or ours above (30 s x 5 attempts) would let one slow call outlive the request, and
# the caller would get API Gateway's bare 504 instead of our 503. Worst case here:
# 3 attempts x (2 s connect + 6 s read) + standard-mode backoff (at most 1 + 2 s) = 27 s.
API_GATEWAY_TIMEOUT_SECONDS = 29
LAMBDA_CONFIG = {"retries": {"mode": "standard", "total_max_attempts": 3}, "connect_timeout": 2, "read_timeout": 6}


def in_lambda(env=None) -> bool:
    """True inside AWS Lambda (the runtime sets AWS_LAMBDA_FUNCTION_NAME)."""

    return bool((os.environ if env is None else env).get("AWS_LAMBDA_FUNCTION_NAME"))


def client_config(env=None, **overrides) -> botocore.config.Config:
    """The botocore config every FaceGate client uses (standard retries, sane timeouts; the
    tighter LAMBDA_CONFIG inside Lambda)."""
    options = {
        "retries": {"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if in_lambda(env):
        options.update(LAMBDA_CONFIG)
    options.update(overrides)
    return botocore.config.Config(**options)


def aws_client(service: str, region: str, session=None, **config_overrides):
    """A boto3 client for ``service`` in ``region`` using the standard credential chain."""

    session = session or boto3.session.Session()
    return session.client(service, region_name=region, config=client_config(**config_overrides))


# AWS error code -> domain error class. Codes not listed fall through to FaceGateError.
_BY_CODE: dict[str, type[errors.FaceGateError]] = {
    "InvalidParameterException": errors.InvalidParameter,
    "InvalidParameterValue": errors.InvalidParameter,
    "ValidationException": errors.InvalidParameter,
    "InvalidRequestException": errors.InvalidParameter,
    "InvalidS3ObjectException": errors.InvalidS3Object,
    "InvalidImageFormatException": errors.InvalidImageFormat,
    "ImageTooLargeException": errors.ImageTooLarge,
    "ResourceNotFoundException": errors.ResourceNotFound,
    "NoSuchKey": errors.ResourceNotFound,
    "NoSuchBucket": errors.ResourceNotFound,
    "NotFound": errors.ResourceNotFound,
    "404": errors.ResourceNotFound,
    "ResourceAlreadyExistsException": errors.ResourceAlreadyExists,
    "AccessDeniedException": errors.AccessDenied,
    "AccessDenied": errors.AccessDenied,
    "UnauthorizedException": errors.AccessDenied,
    "UnrecognizedClientException": errors.AccessDenied,
    "InvalidClientTokenId": errors.AccessDenied,
    "ExpiredTokenException": errors.AccessDenied,
    "ExpiredToken": errors.AccessDenied,
    "403": errors.AccessDenied,
    "ThrottlingException": errors.Throttled,
    "Throttling": errors.Throttled,
    "ProvisionedThroughputExceededException": errors.Throttled,
    "LimitExceededException": errors.Throttled,
    "SlowDown": errors.Throttled,
    "TooManyRequestsException": errors.Throttled,
    "RequestLimitExceeded": errors.Throttled,
    "InternalServerError": errors.ServiceUnavailable,
    "InternalFailure": errors.ServiceUnavailable,
    "ServiceUnavailable": errors.ServiceUnavailable,
    "ServiceUnavailableException": errors.ServiceUnavailable,
    "InternalError": errors.ServiceUnavailable,
}

_HINTS = {
    errors.Throttled: " (still throttled after retries with backoff; slow down or raise the service quota)",
    errors.AccessDenied: " (check the AWS credentials in use and the permissions docs/aws.md lists)",
    errors.ServiceUnavailable: " (AWS did not answer after retries; try again later)",
}


def domain_error(exc: Exception, *, collection_op: bool = False) -> errors.FaceGateError:
    """The domain error for a botocore exception (``ClientError``, parameter validation or
    connection failure). ``collection_op`` turns ResourceNotFound into CollectionNotFound."""
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return errors.InvalidParameter(str(exc))
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return errors.AccessDenied(
            "no AWS credentials found in the standard chain (environment, "
            "profile, SSO or instance role); run `aws configure` or set AWS_PROFILE"
        )
    if isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ),
    ):
        return errors.ServiceUnavailable(f"cannot reach AWS: {exc}" + _HINTS[errors.ServiceUnavailable])
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = err.get("Message") or code
        kind = _BY_CODE.get(code, errors.FaceGateError)
        if kind is errors.InvalidParameter and "no faces in the image" in message.lower():
            kind = errors.NoFaceInImage
        if kind is errors.ResourceNotFound and collection_op:
            kind = errors.CollectionNotFound
        out = kind(message + _HINTS.get(kind, ""))
        if kind is errors.FaceGateError:
            out.code = code or "AWSError"
        return out
    return errors.FaceGateError(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def aws_errors(*, collection_op: bool = False) -> Iterator[None]:
    """Run AWS calls inside this block to get domain errors instead of botocore's."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise domain_error(exc, collection_op=collection_op) from exc
