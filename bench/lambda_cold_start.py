"""Cold start of the Web API's Lambda functions, emulated offline: a fresh Python 3.12 (Lambda's
runtime version) started with ``-I -S -B`` on the unzipped code zip plus the runtime's boto3 and
nothing else (``-B``: like Lambda's read-only /var/task, no bytecode can be written, so modules
without a shipped .pyc are compiled on every cold start). Each run measures

- import: importing both handler modules (Lambda's "init");
- first invoke: building the container's services and answering one ``/search`` (phone variant)
  with Rekognition answered by botocore's Stubber (no network);
- peak RSS of that process.

Three builds, same run, same machine:

- baseline = today's import path before this change: the handlers pulled in numpy, Pillow and
  pandas (through the image codec and the events port) and the zip had no .pyc; emulated by
  importing those three from their cp312 manylinux wheels, sources compiled, before the handler;
- new path, sources only (no Python 3.12 to compile with);
- new path with the shipped unchecked-hash .pyc (what `deploy up` builds).

Medians of N runs, ratios to the baseline. Lambda's own overhead (downloading the zip, starting
the sandbox) is not in these figures. Needs a Python 3.12 (pyenv's is found) and, once, PyPI
(boto3, numpy, pandas, pillow wheels for cp312, cached under ~/.cache/facegate-bench).

    .venv/bin/python bench/lambda_cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.deploy import package  # noqa: E402

CACHE = Path.home() / ".cache" / "facegate-bench"

CHILD = r"""
import json, os, sys, time, resource
zip_dir, extra = sys.argv[1], sys.argv[2:]
stdlib = [p for p in sys.path if p and "site-packages" not in p and os.path.isdir(p)]
sys.path[:] = [zip_dir, *extra] + stdlib
os.environ.update({"FACEGATE_BACKEND": "aws", "FACEGATE_REGION": "ap-northeast-1", "FACEGATE_COLLECTION": "facegate",
    "FACEGATE_PHOTOS_BUCKET": "facegate-photos", "FACEGATE_FACES_BUCKET": "facegate-faces",
    "FACEGATE_LOGS_BUCKET": "facegate-logs", "FACEGATE_SENSOR_TABLE": "facegate-sensor",
    "FACEGATE_DATA_DIR": "/tmp/facegate", "FACEGATE_SECRETS_FILE": "/var/task/no-secrets.toml",
    "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "ap-northeast-1",
    "AWS_LAMBDA_FUNCTION_NAME": "facegate-search"})
t0 = time.perf_counter()
if os.environ.get("BASELINE"):
    import numpy, PIL.Image, pandas          # what the handlers imported before
import lambda_src.search as search, lambda_src.analyze
t1 = time.perf_counter()
from lambda_src import _container
from botocore.stub import Stubber, ANY
services = _container.services()
face = {"FaceId": "38271d79-7bc2-5efb-b752-398a8d575b85", "ExternalImageId": "Taro_Yamada", "Confidence": 99.9}
with Stubber(services.faces.client) as stub:
    stub.add_response("search_faces_by_image", {"FaceMatches": [{"Similarity": 98.5, "Face": face}]})
    answer = search.handler({"httpMethod": "POST", "resource": "/search", "path": "/search",
        "requestContext": {"requestId": "r1"},
        "body": json.dumps({"image_base64str": "data:image/jpeg;base64,/9j/IHBob3Rv", "threshold": 80})}, None)
t2 = time.perf_counter()
assert answer["statusCode"] == 200, answer
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "invoke": t2 - t1, "rss_mb": rss_mb}))
"""


def pip_target(python: str, name: str, requirements: list[str], compiled: bool) -> Path:
    """cp312 wheels of ``requirements`` in a cache directory; ``compiled``: with .pyc files as
    Lambda's runtime ships boto3 (the baseline's numpy/Pillow/pandas came into the old zip by
    ``pip install --no-compile``, so without)."""
    target = CACHE / name
    if not (target / ".complete").exists():
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--upgrade", "--target", str(target)]
        subprocess.run(cmd + package.target_arguments() + requirements, check=True)
        if compiled:
            subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(target)], check=False)
        (target / ".complete").write_text("ok")
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    python = package.runtime_python()
    if not python:
        raise SystemExit("needs a Python 3.12 (Lambda's runtime version): install one or set FACEGATE_LAMBDA_PYTHON")
    boto3_dir = pip_target(python, "boto3-cp312-compiled", ["boto3"], compiled=True)
    heavy_dir = pip_target(python, "heavy-cp312", ["numpy", "pillow", "pandas"], compiled=False)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        for label, py in (("sources", None), ("bytecode", python)):
            built = package.build_lambda_zip(Path(tmp) / label, python=py)
            trees[label] = Path(tmp) / label / "tree"
            zipfile.ZipFile(built.path).extractall(trees[label])
            size = built.path.stat().st_size / 1e6
            print(f"zip {label}: {size:.2f} MB")
        cases = [
            (
                "baseline: old import path (numpy+Pillow+pandas, no .pyc)",
                trees["sources"],
                [boto3_dir, heavy_dir],
                True,
            ),
            ("new path, sources only", trees["sources"], [boto3_dir], False),
            ("new path + shipped .pyc (deploy up)", trees["bytecode"], [boto3_dir], False),
        ]
        results = {label: [] for label, *_ in cases}
        for _ in range(runs):  # interleaved, so load from other work hits every case alike
            for label, tree, extra, baseline in cases:
                results[label].append(run_case(python, tree, extra, baseline))
    print(f"Lambda cold start emulated, {runs} fresh Python 3.12 processes per case ({python})")
    base = None
    for label, samples in results.items():
        imp = statistics.median(s["import"] for s in samples) * 1000
        inv = statistics.median(s["invoke"] for s in samples) * 1000
        rss = statistics.median(s["rss_mb"] for s in samples)
        total = imp + inv
        base = base or total
        print(
            f"  {label:58s} import {imp:6.0f} ms  first invoke {inv:5.0f} ms  "
            f"total {total:6.0f} ms ({total / base:.2f}x)  peak RSS {rss:5.0f} MB"
        )


def run_case(python: str, tree: Path, extra: list[Path], baseline: bool) -> dict:
    code = CHILD.replace('os.environ.get("BASELINE")', "True" if baseline else "False")
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", code, str(tree), *map(str, extra)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tree)},
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
