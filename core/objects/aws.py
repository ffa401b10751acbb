"""Object store on Amazon S3. Buckets are created (private, encrypted) by ``deploy/``;
this adapter only reads and writes objects, and checks names exactly as the local store."""

from __future__ import annotations

from core.aws.clients import aws_errors
from core.config import BUCKET_PATTERN
from core.errors import InvalidParameter, ResourceNotFound
from core.objects.port import ObjectInfo, ObjectStore, check_key


def _check_bucket(bucket: str) -> str:
    if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket):
        raise InvalidParameter(f"invalid bucket name: {bucket!r}")
    return bucket


class S3ObjectStore(ObjectStore):
    """``client`` is a boto3 S3 client (see ``core.aws.clients.aws_client``)."""

    def __init__(self, client):
        self.client = client

    def put_object(self, bucket, key, data, content_type="application/octet-stream"):
        with aws_errors():
            # The bucket's default encryption applies; asking for it again makes the
            # intent visible in CloudTrail and keeps working if the default is changed.
            self.client.put_object(
                Bucket=_check_bucket(bucket),
                Key=check_key(key),
                Body=bytes(data),
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )

    def get_object(self, bucket, key):
        try:
            with aws_errors():
                return self.client.get_object(Bucket=_check_bucket(bucket), Key=check_key(key))["Body"].read()
        except ResourceNotFound:
            raise ResourceNotFound(f"no object s3://{bucket}/{key}") from None

    def delete_object(self, bucket, key):
        with aws_errors():
            self.client.delete_object(Bucket=_check_bucket(bucket), Key=check_key(key))

    def list_objects(self, bucket, prefix=""):
        _check_bucket(bucket)
        out: list[ObjectInfo] = []
        with aws_errors():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out.extend(ObjectInfo(o["Key"], int(o["Size"]), o["LastModified"]) for o in page.get("Contents", []))
        return sorted(out, key=lambda o: o.key)

    def exists(self, bucket, key):
        try:
            with aws_errors():
                self.client.head_object(Bucket=_check_bucket(bucket), Key=check_key(key))
        except ResourceNotFound:
            return False
        return True
