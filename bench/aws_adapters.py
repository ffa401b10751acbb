"""What the aws adapters add on top of boto3, offline: S3 put/get of a 200 KB photo on moto
(in process) through ``S3ObjectStore`` vs the raw client, and Rekognition
SearchFacesByImage through ``RekognitionFaceCollections`` vs the raw client against a
canned HTTP answer (botocore's whole serialise/parse path runs; the network does not).
Also the Lambda code zip (own code only; the vendored build needs PyPI). Prints figures;
asserts nothing. AWS's own latency is not measurable here (no AWS access).

    .venv/bin/python bench/aws_adapters.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REGION = "ap-northeast-1"
for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_DEFAULT_REGION", REGION),
    ("AWS_CONFIG_FILE", "/nonexistent"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
):
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from moto import mock_aws  # noqa: E402

from core.aws.clients import aws_client  # noqa: E402
from core.deploy import package  # noqa: E402
from core.faces.aws import RekognitionFaceCollections  # noqa: E402
from core.objects.aws import S3ObjectStore  # noqa: E402


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def p50_p95(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def report(name: str, ours: list[float], raw: list[float]) -> None:
    o50, o95 = p50_p95(ours)
    r50, r95 = p50_p95(raw)
    print(
        f"{name:<34} adapter p50 {o50 * 1000:7.3f} ms p95 {o95 * 1000:7.3f} ms | raw boto3 p50 "
        f"{r50 * 1000:7.3f} ms p95 {r95 * 1000:7.3f} ms | ratio {o50 / r50:5.2f}"
    )


def bench_s3(n: int) -> None:
    photo = os.urandom(200 * 1024)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        client = aws_client("s3", REGION, session)
        client.create_bucket(Bucket="facegate-photos", CreateBucketConfiguration={"LocationConstraint": REGION})
        store = S3ObjectStore(client)
        for _ in range(5):  # warm up both paths
            store.put_object("facegate-photos", "warm.jpg", photo)
            client.get_object(Bucket="facegate-photos", Key="warm.jpg")["Body"].read()
        report(
            "S3 put 200 KB (moto)",
            timed(lambda: store.put_object("facegate-photos", "a.jpg", photo), n),
            timed(lambda: client.put_object(Bucket="facegate-photos", Key="b.jpg", Body=photo), n),
        )
        report(
            "S3 get 200 KB (moto)",
            timed(lambda: store.get_object("facegate-photos", "a.jpg"), n),
            timed(lambda: client.get_object(Bucket="facegate-photos", Key="b.jpg")["Body"].read(), n),
        )
        report(
            "S3 list 1 key (moto)",
            timed(lambda: store.list_objects("facegate-photos", "a."), n),
            timed(lambda: client.list_objects_v2(Bucket="facegate-photos", Prefix="a."), n),
        )


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


def bench_rekognition(n: int) -> None:
    answer = (
        b'{"SearchedFaceBoundingBox":{"Width":0.4,"Height":0.5,"Left":0.3,"Top":0.2},'
        b'"SearchedFaceConfidence":99.9,"FaceModelVersion":"7.0","FaceMatches":[{"Similarity":99.4,'
        b'"Face":{"FaceId":"38271d79-7bc2-5efb-b752-398a8d575b85","ExternalImageId":"Taro_Yamada",'
        b'"Confidence":99.9,"BoundingBox":{"Width":0.4,"Height":0.5,"Left":0.3,"Top":0.2}}}]}'
    )
    client = aws_client("rekognition", REGION, boto3.session.Session())
    client.meta.events.register(
        "before-send.rekognition", lambda request, **_: AWSResponse(request.url, 200, {}, _Body(answer))
    )
    faces = RekognitionFaceCollections(client)
    image = {"Bytes": os.urandom(150 * 1024)}
    kwargs = {"CollectionId": "facegate", "Image": image, "MaxFaces": 10, "FaceMatchThreshold": 80.0}
    for _ in range(5):
        faces.search_faces_by_image(**kwargs)
    report(
        "SearchFacesByImage 150 KB (canned)",
        timed(lambda: faces.search_faces_by_image(**kwargs), n),
        timed(lambda: client.search_faces_by_image(**kwargs, QualityFilter="NONE"), n),
    )


def bench_zip() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, python in (("sources only", None), ("with Python 3.12 bytecode", True)):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                built = package.build_lambda_zip(Path(tmp), python=python)
                times.append(time.perf_counter() - t)
            if python and not built.bytecode:
                print("Lambda zip with bytecode: no Python 3.12 here")
                continue
            print(
                f"Lambda zip, {label}: {built.path.stat().st_size / 1e6:.2f} MB, build p50 "
                f"{statistics.median(times) * 1000:.0f} ms (nothing vendored: deploy/lambda-requirements.txt "
                "is empty; cold start: bench/lambda_cold_start.py)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 50 if parser.parse_args().quick else 300
    print(f"aws adapters, {n} calls each (2 cores, in process, no network)")
    bench_s3(n)
    bench_rekognition(n)
    bench_zip()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
