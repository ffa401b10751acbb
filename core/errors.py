"""One error vocabulary for FaceGate.

Domain errors are raised in ``core`` and mapped once: to HTTP codes in the Web API
(``core.web.routes``), to messages in the UI, and to exit code 2 in the CLI. Names follow
Amazon Rekognition's exceptions so that both worlds raise the same thing.
"""

from __future__ import annotations


class FaceGateError(Exception):
    """Base of every domain error. ``code`` is the Rekognition-style exception name."""

    code = "FaceGateError"

    def __init__(self, message: str = ""):
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_dict(self) -> dict:
        return {"error": self.code, "message": self.message}


class InvalidParameter(FaceGateError):
    code = "InvalidParameterException"


class InvalidImageFormat(FaceGateError):
    code = "InvalidImageFormatException"


class ImageTooLarge(FaceGateError):
    code = "ImageTooLargeException"


class NoFaceInImage(InvalidParameter):
    """Rekognition reports "no face" as InvalidParameterException; we keep a subclass
    so the Web API can answer 421/404 as the course does."""

    code = "InvalidParameterException"


class InvalidS3Object(InvalidParameter):
    """An ``S3Object`` image (or the Web API's ``bucket_name``/``file_name``) names an object
    that cannot be read: no such bucket or key. Rekognition's InvalidS3ObjectException."""

    code = "InvalidS3ObjectException"


class ResourceNotFound(FaceGateError):
    code = "ResourceNotFoundException"


class CollectionNotFound(ResourceNotFound):
    pass


class ResourceAlreadyExists(FaceGateError):
    code = "ResourceAlreadyExistsException"


class AccessDenied(FaceGateError):
    code = "AccessDeniedException"


class Throttled(FaceGateError):
    code = "ThrottlingException"


class ServiceUnavailable(FaceGateError):
    """A backing component (broker, AWS endpoint) cannot be reached right now."""

    code = "ServiceUnavailableException"


class StorageFull(ServiceUnavailable):
    """New data is refused because free disk space is below the reserve
    (``FACEGATE_DISK_RESERVE_MB``); it is accepted again once space is freed."""


class ConfigError(FaceGateError):
    code = "ConfigError"


class DeployFailed(FaceGateError):
    """Creating, updating or deleting the AWS side did not complete (CloudFormation's
    reasons are in the message)."""

    code = "DeployFailed"
