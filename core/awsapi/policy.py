"""What each role may do on the AWS-compatible endpoint (least privilege, like an IAM policy).

- **admin**: everything (S3, Rekognition, IoT Data Publish).
- **device**: S3 PutObject and multipart uploads, except into the faces and logs buckets;
  Rekognition SearchFacesByImage, SearchFaces, DetectFaces, CompareFaces, ListCollections and
  DescribeCollection, with an ``S3Object`` image only outside the faces and logs buckets;
  IoT Data Publish (the broker's topic policy applies, as to any MQTT device).

A device never reads, lists or deletes objects: the course's device only uploads photos
(``upload_file``), and the photos bucket holds other people's faces. The faces bucket
(enrolment photos: biometric data) is the admin's alone, for reading as for analysing. The
logs bucket is written only by the rule engine.
"""

from __future__ import annotations

REKOGNITION_FOR_DEVICES = frozenset(
    {"SearchFacesByImage", "SearchFaces", "DetectFaces", "CompareFaces", "ListCollections", "DescribeCollection"}
)


def _protected(settings) -> tuple[str, ...]:
    return (settings.faces_bucket, settings.logs_bucket)


def may_call_rekognition(role: str, operation: str) -> bool:
    return role == "admin" or operation in REKOGNITION_FOR_DEVICES


def may_analyse_object(role: str, bucket: str, settings) -> bool:
    """Rekognition reading ``bucket`` for this caller (an ``S3Object`` image)."""
    return role == "admin" or bucket not in _protected(settings)


def may_write_object(role: str, bucket: str, settings) -> bool:
    return role == "admin" or bucket not in _protected(settings)


def may_read_objects(role: str) -> bool:
    """GetObject, HeadObject, listings, CopyObject's source."""
    return role == "admin"


def may_delete_objects(role: str) -> bool:
    return role == "admin"


def may_manage_buckets(role: str) -> bool:
    """CreateBucket, DeleteBucket, ListBuckets, HeadBucket."""
    return role == "admin"


def may_publish(role: str) -> bool:
    return role in ("admin", "device")
