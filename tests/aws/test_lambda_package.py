"""The Lambda code zip as deploy up builds it, imported and invoked the way Lambda's python3.12
runtime would: a fresh Python 3.12 started with ``-I -S`` whose path is the unzipped zip, the
standard library and the runtime's boto3 — nothing else. Before, ``--no-vendor`` zips could not
import (numpy, pandas) and every request was a 502; now the handlers need nothing beyond boto3.

Needs a Python 3.12 (pyenv's here; skipped with the reason otherwise). boto3 is copied from this
venv (pure Python); only the vendoring check asks PyPI (metadata, no wheel kept) and skips offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.deploy import package
from core.deploy.template import render_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def lambda_python():
    python = package.runtime_python(env={})
    if not python:
        pytest.skip(f"no Python {package.PYTHON_VERSION} here (Lambda's runtime version): install python3.12")
    done = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    if done.returncode != 0 or done.stdout.strip() != "(3, 12)":
        pytest.skip(f"{python} is not a working Python 3.12: {done.stderr[-300:]}")
    return python


def _distributions(top: str) -> list:
    """``top`` and every distribution it requires (extras left out), from this venv."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo, out = set(), [top], []
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        out.append(dist)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return out


@pytest.fixture(scope="session")
def runtime_boto3(tmp_path_factory):
    """boto3 as the python3.12 runtime provides it: boto3 and its pure-Python dependencies
    copied from this venv (no network), nothing else."""
    target = tmp_path_factory.mktemp("runtime-boto3")
    for dist in _distributions("boto3"):
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if file.parts[0] in ("..", "bin") or "__pycache__" in file.parts or not source.is_file():
                continue
            dest = target / file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    return target


@pytest.fixture(scope="session")
def built(tmp_path_factory, lambda_python):
    out = tmp_path_factory.mktemp("zip")
    result = package.build_lambda_zip(out, python=lambda_python)
    tree = out / "unzipped"
    zipfile.ZipFile(result.path).extractall(tree)
    return result, tree


CHILD = r"""
import json, os, sys, importlib.util
zip_dir, boto3_dir = sys.argv[1], sys.argv[2]
stdlib = [p for p in sys.path if p and "site-packages" not in p and os.path.isdir(p)]
sys.path[:] = [zip_dir, boto3_dir] + stdlib          # what Lambda's runtime has, nothing else
os.environ.update(json.loads(sys.argv[3]))
missing = []
for name in ("numpy", "pandas", "PIL", "cv2", "duckdb", "yaml", "moto"):
    try:
        __import__(name)
    except ImportError:
        missing.append(name)

import lambda_src.search as search, lambda_src.analyze as analyze
from lambda_src import _container
from botocore.stub import Stubber, ANY

services = _container.services()
face = {"FaceId": "38271d79-7bc2-5efb-b752-398a8d575b85", "ExternalImageId": "Taro_Yamada", "Confidence": 99.9}
box = {"Width": 0.5, "Height": 0.5, "Left": 0.2, "Top": 0.2}
out = {"missing": missing}
with Stubber(services.faces.client) as stub:
    stub.add_response("search_faces_by_image",
        {"SearchedFaceBoundingBox": box, "SearchedFaceConfidence": 99.9,
         "FaceMatches": [{"Similarity": 98.5, "Face": face}]},
        {"CollectionId": "facegate", "Image": {"Bytes": b"\xff\xd8\xff photo"}, "MaxFaces": 10,
         "FaceMatchThreshold": 80.0, "QualityFilter": ANY})
    stub.add_response("detect_faces", {"FaceDetails": [{"BoundingBox": box, "Confidence": 99.9}]},
        {"Image": {"Bytes": b"\xff\xd8\xff photo"}, "Attributes": ["ALL"]})
    stub.add_response("search_faces_by_image", {"FaceMatches": []},
        {"CollectionId": "facegate", "Image": {"S3Object": {"Bucket": "facegate-photos",
         "Name": "image01_20190808181200.jpg"}}, "MaxFaces": 10, "FaceMatchThreshold": 75.0, "QualityFilter": ANY})
    phone = "data:image/jpeg;base64,/9j/IHBob3Rv"   # b"\xff\xd8\xff photo"
    def call(handler, body, route):
        event = {"httpMethod": "POST", "resource": f"/{route}", "path": f"/{route}",
                 "requestContext": {"requestId": "r-" + route}, "body": body}
        answer = handler.handler(event, None)
        return answer["statusCode"], json.loads(answer["body"])
    out["search"] = call(search, json.dumps({"image_base64str": phone, "threshold": 80}), "search")
    out["analyze"] = call(analyze, json.dumps({"image_base64str": phone}), "analyze")
    out["device"] = call(search, json.dumps({"file_name": "image01_20190808181200.jpg",
                                             "bucket_name": "facegate-photos", "threshold": 75}), "search")
    out["bad"] = call(search, "{not json", "search")
    stub.assert_no_pending_responses()

# Every module loaded from the zip came from a pyc compiled for this Python, unchecked-hash:
# Lambda's read-only /var/task would otherwise make every cold start compile the sources.
bad_pyc = []
for name, module in list(sys.modules.items()):
    origin = getattr(module, "__file__", None) or ""
    if not origin.startswith(zip_dir) or not origin.endswith(".py"):
        continue
    cached = module.__cached__
    with open(cached, "rb") as fh:
        head = fh.read(8)
    flags = int.from_bytes(head[4:8], "little")
    if head[:4] != importlib.util.MAGIC_NUMBER or flags != 0b01:
        bad_pyc.append(name)
out["modules_from_zip"] = sorted(n for n, m in sys.modules.items()
                                 if (getattr(m, "__file__", None) or "").startswith(zip_dir))
out["bad_pyc"] = bad_pyc
out["boto3"] = sys.modules["boto3"].__file__
print(json.dumps(out))
"""

ENV = {
    "FACEGATE_BACKEND": "aws",
    "FACEGATE_REGION": "ap-northeast-1",
    "FACEGATE_COLLECTION": "facegate",
    "FACEGATE_PHOTOS_BUCKET": "facegate-photos",
    "FACEGATE_FACES_BUCKET": "facegate-faces",
    "FACEGATE_LOGS_BUCKET": "facegate-logs",
    "FACEGATE_SENSOR_TABLE": "facegate-sensor",
    "FACEGATE_DATA_DIR": "/tmp/facegate",
    "FACEGATE_SECRETS_FILE": "/var/task/no-secrets.toml",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
    "AWS_LAMBDA_FUNCTION_NAME": "facegate-search",
}


def _run_child(python, tree, boto3_dir, env=ENV, code=CHILD):
    done = subprocess.run(
        [python, "-I", "-S", "-c", code, str(tree), str(boto3_dir), json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tree)},
    )
    return done


def test_the_real_zips_handlers_import_and_answer_in_a_clean_python_3_12(built, lambda_python, runtime_boto3):
    result, tree = built
    done = _run_child(lambda_python, tree, runtime_boto3)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # nothing but the zip and boto3: the heavy packages are really absent in that interpreter
    assert set(out["missing"]) == {"numpy", "pandas", "PIL", "cv2", "duckdb", "yaml", "moto"}
    assert out["boto3"].startswith(str(runtime_boto3))
    status, body = out["search"]
    assert status == 200 and body["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada", body
    status, body = out["analyze"]
    assert status == 200 and len(body["payloads"]["analysis"]) == 1, body
    status, body = out["device"]
    assert status in (200, 421), body  # no match for the device's photo: the course's answer
    assert out["bad"][0] == 400
    assert out["bad_pyc"] == [] and len(out["modules_from_zip"]) > 10
    assert result.bytecode == lambda_python and result.vendored == []


def test_the_check_fails_when_a_handler_needs_a_package_the_zip_lacks(built, lambda_python, runtime_boto3):
    """What the old --no-vendor zip did (numpy imported, not shipped) is caught here."""
    _, tree = built
    code = "import sys; sys.path[:] = [sys.argv[1], sys.argv[2]] + [p for p in sys.path if 'site-packages' not in p]\n"
    code += "import numpy\n"
    done = _run_child(lambda_python, tree, runtime_boto3, code=code)
    assert done.returncode != 0 and "No module named 'numpy'" in done.stderr


def test_the_zip_is_reproducible_with_its_bytecode(built, lambda_python, tmp_path):
    result, _ = built
    again = package.build_lambda_zip(tmp_path, python=lambda_python)
    assert again.sha256 == result.sha256
    names = zipfile.ZipFile(result.path).namelist()
    sources = [n for n in names if n.endswith(".py")]
    compiled = {n for n in names if n.endswith(".cpython-312.pyc")}
    assert "lambda_src/search.py" in sources and "core/web/routes.py" in sources
    for source in sources:
        folder, _, file = source.rpartition("/")
        assert f"{folder}/__pycache__/{file[:-3]}.cpython-312.pyc" in compiled, source
    assert not [n for n in names if n.startswith(("tests/", "data/", ".")) or "/tests/" in n]


def test_without_a_python_3_12_the_zip_ships_sources_and_says_so(tmp_path):
    from core.errors import ConfigError

    result = package.build_lambda_zip(tmp_path, python=None)
    assert result.bytecode == "" and not [n for n in zipfile.ZipFile(result.path).namelist() if n.endswith(".pyc")]
    assert package.runtime_python(env={"FACEGATE_LAMBDA_PYTHON": "none"}) is None
    if sys.version_info[:2] != (3, 12):  # another Python's bytecode would be refused by the runtime
        with pytest.raises(ConfigError, match="not Python 3.12"):
            package.compile_bytecode(tmp_path, sys.executable)


def test_vendoring_picks_current_wheels_for_the_runtime():
    """The platform tags get the newest release pip can find for cp312 on glibc 2.34, where
    manylinux2014 alone silently got older ones (numpy 2.2 while 2.5 exists). pip resolves for
    Lambda's platform exactly as vendor_requirements asks it to (``--dry-run``: nothing downloaded
    beyond metadata)."""

    def newest(platforms, project):
        cmd = [sys.executable, "-m", "pip", "index", "versions", project, "--python-version", "3.12"]
        cmd += ["--implementation", "cp", "--only-binary=:all:"]
        for tag in platforms:
            cmd += ["--platform", tag]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"PyPI not reachable: {done.stderr[-200:]}")
        return done.stdout.split("(", 1)[1].split(")", 1)[0]

    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report", "-"]
    done = subprocess.run(
        cmd + package.target_arguments() + ["numpy", "pillow", "pandas"], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        pytest.skip(f"PyPI not reachable: {done.stderr[-200:]}")
    installed = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(done.stdout)["install"]}
    for project in ("numpy", "pillow", "pandas"):
        assert installed[project] == newest(package.PLATFORMS, project), project
    old = newest(["manylinux2014_x86_64"], "numpy")
    assert tuple(map(int, installed["numpy"].split(".")[:2])) > tuple(map(int, old.split(".")[:2]))
    assert render_template()["Resources"]["SearchFunction"]["Properties"]["Runtime"] == "python3.12"


def test_no_vendor_is_gone_because_nothing_is_vendored():
    """``--no-vendor`` built zips that could not import; now there is nothing to leave out."""
    from core.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["deploy", "up", "--no-vendor"])
    assert package.requirement_lines(package.LAMBDA_REQUIREMENTS) == []
