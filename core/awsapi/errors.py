"""AWS's own error answers, one table per wire protocol, so that botocore raises the same
exception classes against FaceGate as against AWS.

* S3 (REST-XML): ``<Error><Code>NoSuchKey</Code><Message>...</Message>...</Error>``;
* Rekognition (JSON 1.1): ``{"__type": "InvalidParameterException", "Message": "..."}``,
  400 for client errors, 500 for ThrottlingException and InternalServerError (Rekognition's
  documented status codes);
* IoT Data (REST-JSON): ``{"message": "..."}`` with ``x-amzn-ErrorType``; IoT's data plane
  answers every authentication failure with 403 ForbiddenException.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.awsapi.sigv4 import MAX_SKEW


class AwsError(Exception):
    """An error in AWS's words: ``code`` (the exception name botocore raises), ``message``,
    HTTP ``status`` and, for S3's XML, extra elements (``Key``, ``BucketName``...)."""

    def __init__(self, code: str, message: str, status: int = 400, **extra):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra


def _amz(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _skew_message(failure) -> str:
    when, now = failure.extra.get("when"), failure.extra.get("now")
    if when is None or now is None:
        return failure.message

    if when < now:
        return f"Signature expired: {_amz(when)} is now earlier than {_amz(now - MAX_SKEW)} ({_amz(now)} - 15 min.)"
    return f"Signature not yet current: {_amz(when)} is still later than {_amz(now + MAX_SKEW)} ({_amz(now)} + 15 min.)"


_UNKNOWN_KEY = "The AWS Access Key Id you provided does not exist in our records."
_BAD_TOKEN = "The security token included in the request is invalid."
_EXPIRED = "The security token included in the request is expired"
_BAD_SIG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def auth_error(protocol: str, failure, access_key_id: str = "") -> AwsError:
    """The refusal AWS sends, in ``protocol`` ("s3", "json" or "rest-json"), for an
    ``core.awsapi.sigv4.AuthFailure`` (or a reason string)."""
    reason = getattr(failure, "reason", failure)
    message = getattr(failure, "message", "") or ""
    extra = getattr(failure, "extra", {}) or {}
    if protocol == "s3":
        now = extra.get("now") or datetime.now(UTC)
        table = {
            "missing": (403, "AccessDenied", "Access Denied", {}),
            "malformed": (400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; {message}", {}),
            "unsupported": (
                400,
                "InvalidRequest",
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                {},
            ),
            "unknown_key": (403, "InvalidAccessKeyId", _UNKNOWN_KEY, {"AWSAccessKeyId": access_key_id}),
            "revoked": (403, "InvalidAccessKeyId", _UNKNOWN_KEY, {"AWSAccessKeyId": access_key_id}),
            "expired_key": (400, "ExpiredToken", "The provided token has expired.", {}),
            "token": (
                400,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid. "
                "(FaceGate issues no session tokens: unset AWS_SESSION_TOKEN.)",
                {},
            ),
            "signature": (
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                {
                    "AWSAccessKeyId": access_key_id,
                    "StringToSign": extra.get("string_to_sign", ""),
                    "CanonicalRequest": extra.get("canonical_request", ""),
                },
            ),
            "skewed": (
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                {
                    "RequestTime": _amz(extra["when"]) if "when" in extra else "",
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "MaxAllowedSkewMilliseconds": "900000",
                },
            ),
            "presign_expired": (
                403,
                "AccessDenied",
                "Request has expired",
                {"X-Amz-Expires": str(extra.get("expires", "")), "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            ),
            "not_yet_valid": (403, "AccessDenied", "Request is not valid yet", {}),
            "unsigned_headers": (
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed",
                {"HeadersNotSigned": ", ".join(extra.get("headers", []))},
            ),
            "missing_content_sha256": (400, "InvalidRequest", message, {}),
            "bad_content_sha256": (400, "InvalidArgument", message, {}),
            "wrong_service": (
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; {message}",
                {},
            ),
        }
        status, code, text, fields = table.get(reason, (403, "AccessDenied", "Access Denied", {}))
        return AwsError(code, text, status, **fields)
    forbidden = protocol == "rest-json"  # IoT's data plane: 403 ForbiddenException for all of them
    answers: dict[str, tuple[int, str, str]] = {
        "missing": (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "malformed": (400, "IncompleteSignatureException", message),
        "unsupported": (400, "IncompleteSignatureException", message),
        "unknown_key": (400, "UnrecognizedClientException", _BAD_TOKEN),
        "revoked": (400, "UnrecognizedClientException", _BAD_TOKEN),
        "expired_key": (400, "ExpiredTokenException", _EXPIRED),
        "token": (
            400,
            "UnrecognizedClientException",
            _BAD_TOKEN + " (FaceGate issues no session tokens: unset AWS_SESSION_TOKEN.)",
        ),
        "signature": (400, "InvalidSignatureException", _BAD_SIG),
        "skewed": (400, "InvalidSignatureException", _skew_message(failure) if hasattr(failure, "extra") else message),
        "wrong_service": (
            400,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service. {message}",
        ),
    }
    status, code, text = answers.get(reason, (400, "InvalidSignatureException", message or _BAD_SIG))
    if forbidden:
        return AwsError("ForbiddenException", text, 403)
    return AwsError(code, text, status)
