"""The course's steps 1-4 against the local world started as ``make run`` starts it, with only
``python -m core aws-env``'s exports added (docs/course.md walks the same path).

``python -m core serve --no-ui`` runs on free ports in a fresh data dir. Then, as a learner:
step 1 with the AWS CLI (bucket, upload, create-collection, index-faces, list-faces,
search-faces-by-image), FaceGate's one extra step (``faces use-collection``), the device's
own programs (``tests/awsapi/course``: upload_target_image.py, execute_authentication_api.py
and execute_analysis_api.py with the course's step 4 edits, which call the log publishers,
pub_door_open_log_data.py and pub_sensor_data.py), and finally the event store the Logs and
Analytics pages read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.telemetry.conftest import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]
COURSE = Path(__file__).with_name("course")
BIN = Path(sys.executable).parent
COLLECTION = "yamada-authentication-collection"
SOURCE = "yamada-rekognition-collection-source"
TARGET = "target-faces-handson"


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _run(args, env, cwd=ROOT, check=True) -> str:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed: {proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _aws_env(base_env, *flags) -> dict:
    """The environment after ``eval "$(python -m core aws-env ...)"`` in a real shell."""
    script = f'eval "$({sys.executable} -m core aws-env {" ".join(flags)})" && env -0'
    out = subprocess.run(["bash", "-c", script], env=base_env, cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def _learner_edits(text: str, resource: str, api: str, key: str) -> str:
    """What the course has the learner do to its API scripts: fill in the API's values (here
    FaceGate's local Web API) and, at step 4, uncomment the log-publishing lines."""
    text = text.replace("API_KEY =  'xxxxxxxxxxxxxxxxxxx'", f"API_KEY =  '{key}'")
    text = text.replace("STAGE = 'xxxxxx'", "STAGE = 'prod'").replace("RESOURCE = 'xxxxxx'", f"RESOURCE = '{resource}'")
    text = text.replace(
        "'https://{api_id}.execute-api.ap-northeast-1.amazonaws.com/{stage}/{resource}'",
        f"'{api}/{{stage}}/{{resource}}'",
    )
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\s*)# (.*)$", line)
        if m and m.group(2).isascii() and re.match(r"\s*[A-Za-z_]", m.group(2)):
            line = m.group(1) + m.group(2)  # step 4: "uncomment these lines"
        out.append(line)
    text = "\n".join(out) + "\n"
    # The two slips of the published analysis script a learner has to fix to run it.
    text = text.replace(
        "format_result, format_data = rekognition_data_formatter.format_analysis_log_data",
        "format_data = rekognition_data_formatter.format_analysis_log_data",
    )
    return re.sub(r"^(\s+)call_pub_analysis_log_data\(", r"\1self.call_pub_analysis_log_data(", text, flags=re.M)


@pytest.fixture(scope="module")
def local_world(tmp_path_factory):
    """``make run`` without the app: broker + rules, Web API, AWS-compatible endpoint."""
    data = tmp_path_factory.mktemp("course") / "data"
    api_port, aws_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "AWS_"))}
    env.update(
        FACEGATE_DATA_DIR=str(data),
        FACEGATE_SECRETS_FILE=str(data / "none.toml"),
        FACEGATE_MQTT_PORT=str(free_port()),
        FACEGATE_API_PORT=str(api_port),
        FACEGATE_AWS_PORT=str(aws_port),
        FACEGATE_LOG_LEVEL="ERROR",
        FACEGATE_ANALYSIS_BUFFER_SECONDS="2",
        # A learner in Japan: the device's clock and FaceGate's zone are JST, so zone-less stamps
        # (the Web API's timestamp, copied into auth and analysis logs) must round-trip (§4).
        TZ="Asia/Tokyo",
        FACEGATE_TIMEZONE="Asia/Tokyo",
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",  # the course's scripts run "python"
        HOME=str(tmp_path_factory.mktemp("home")),
    )
    core = [sys.executable, "-m", "core"]
    _run([*core, "aws-credentials", "create", "--name", "learner", "--role", "admin"], env)
    _run([*core, "aws-credentials", "create", "--name", "id001", "--role", "device"], env)
    api_key = _run([*core, "api-key", "create", "--name", "device"], env).strip().splitlines()[-1]
    proc = subprocess.Popen(
        [*core, "serve", "--no-ui"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{api_port}/search"), timeout=90, interval=0.2)
        wait_for(lambda: _answers(f"http://127.0.0.1:{aws_port}/"), timeout=90, interval=0.2)
        wait_for(lambda: (data / "telemetry" / "broker.json").exists(), timeout=90, interval=0.2)
        yield {"env": env, "data": data, "api": f"http://127.0.0.1:{api_port}", "key": api_key}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def device_workspace(tmp_path_factory, local_world):
    """The course's device folder, set up as the learner sets it up."""
    ws = tmp_path_factory.mktemp("device")
    for step in ("step1", "step3", "step4"):
        shutil.copytree(COURSE / step, ws / step)
    shutil.copy(COURSE / "step2" / "rekognition_data_formatter.py", ws / "step3")  # importable beside the scripts
    for name, resource in (("execute_authentication_api.py", "search"), ("execute_analysis_api.py", "analyze")):
        path = ws / "step3" / name
        path.write_text(
            _learner_edits(path.read_text(encoding="utf-8"), resource, local_world["api"], local_world["key"]),
            encoding="utf-8",
        )
    return ws


def _events(data: Path, kind: str):
    from core.events.local import LocalEventStore

    return LocalEventStore(data / "events" / "events.db").query(kind)


def _face_detail_is_complete(data: Path, photo: Path) -> bool:
    from core.faces.local import LocalFaceCollections

    faces = LocalFaceCollections(data / "scratch")
    detail = faces.detect_faces(Image={"Bytes": photo.read_bytes()}, Attributes=["ALL"])["FaceDetails"][0]
    return all(k in detail for k in ("Eyeglasses", "Sunglasses", "Beard", "Mustache"))


def test_the_course_steps_1_to_4_against_make_run(local_world, device_workspace, labelled, tmp_path):
    env, data = local_world["env"], local_world["data"]
    started = datetime.now(UTC).replace(microsecond=0)
    learner = _aws_env(env)  # the newest admin key: "learner"
    device = _aws_env(env, "--name", "id001")
    aws = [str(BIN / "aws")]
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "Taro_Yamada.png").write_bytes(labelled["amy"][0].read_bytes())
    (photos / "taro.png").write_bytes(labelled["amy"][3].read_bytes())

    # ステップ1. 顔認識用のコレクションを作成する — the AWS CLI, as the course gives the commands
    _run([*aws, "s3", "mb", f"s3://{SOURCE}"], learner)
    _run([*aws, "s3", "cp", str(photos / "Taro_Yamada.png"), f"s3://{SOURCE}/"], learner)
    assert SOURCE in _run([*aws, "s3", "ls"], learner)
    created = json.loads(_run([*aws, "rekognition", "create-collection", "--collection-id", COLLECTION], learner))
    assert created["StatusCode"] == 200
    assert COLLECTION in json.loads(_run([*aws, "rekognition", "list-collections"], learner))["CollectionIds"]
    image = json.dumps({"S3Object": {"Bucket": SOURCE, "Name": "Taro_Yamada.png"}})
    _run(
        [*aws, "rekognition", "index-faces", "--image", image, "--collection-id", COLLECTION, "--max-faces", "1",
         "--quality-filter", "AUTO", "--detection-attributes", "ALL", "--external-image-id", "Taro_Yamada"],
        learner,
    )  # fmt: skip
    faces = json.loads(_run([*aws, "rekognition", "list-faces", "--collection-id", COLLECTION], learner))["Faces"]
    assert [f["ExternalImageId"] for f in faces] == ["Taro_Yamada"]
    found = json.loads(
        _run([*aws, "rekognition", "search-faces-by-image", "--image", image, "--collection-id", COLLECTION], learner)
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    # FaceGate's one extra step: the app and the Web API search the learner's collection too
    _run([sys.executable, "-m", "core", "faces", "use-collection", COLLECTION], env)
    current = json.loads(_run([sys.executable, "-m", "core", "faces", "current-collection"], env))
    assert current["collection"] == COLLECTION and current["exists"]
    _run([*aws, "s3", "mb", f"s3://{TARGET}"], learner)  # the device's upload bucket

    # the device (step 1 upload, steps 2-3 Web API, step 4 logs), its own programs
    out = _run(
        [sys.executable, "upload_target_image.py", str(photos / "taro.png"), TARGET], device, device_workspace / "step1"
    )
    assert "succeeded!" in out
    uploaded = re.search(r"upload file name: (taro_\d{14}\.png)", out).group(1)
    step3 = device_workspace / "step3"
    out = _run([sys.executable, "execute_authentication_api.py", uploaded, TARGET, "80"], device, step3)
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["msg"] == "[SUCCEEDED]Rekognition done"
    assert answer["payloads"]["FaceMatches"][0]["Face"]["ExternalImageId"] == "Taro_Yamada"
    log_file = json.loads((step3 / "create_auth_log.log").read_text().split(",\n", 1)[1])
    assert log_file[0]["Person"] == "Taro_Yamada" and log_file[0]["PictureName"] == uploaded
    out = _run([sys.executable, "execute_analysis_api.py", uploaded, TARGET], device, step3)
    analysis = json.loads(out.strip().splitlines()[-1])
    assert analysis["msg"] == "[SUCCEEDED]Analysis done" and len(analysis["payloads"]["analysis"]) == 1
    step4 = device_workspace / "step4"
    assert "'HTTPStatusCode': 200" in _run([sys.executable, "pub_door_open_log_data.py", "Taro_Yamada"], device, step4)
    sensor_out = _run([sys.executable, "pub_sensor_data.py", "123"], device, step4)
    assert "'HTTPStatusCode': 200" in sensor_out  # IoT's answer: the broker took it

    # a photo without a face: /analyze answers 200 with an empty analysis, as the course's Lambda
    wall = photos / "wall.png"
    from PIL import Image

    Image.new("RGB", (320, 240), (180, 180, 180)).save(wall)
    out = _run([sys.executable, "upload_target_image.py", str(wall), TARGET], device, device_workspace / "step1")
    wall_key = re.search(r"upload file name: (wall_\d{14}\.png)", out).group(1)
    out = _run([sys.executable, "execute_analysis_api.py", wall_key, TARGET], device, step3)
    assert json.loads(out.strip().splitlines()[-1])["payloads"]["analysis"] == []

    # what the Logs and Analytics pages read
    wait_for(lambda: len(_events(data, "auth")) >= 1, timeout=30)
    auth = _events(data, "auth").iloc[-1]
    assert auth["Person"] == "Taro_Yamada" and auth["PictureName"] == uploaded and bool(auth["AuthenticationResult"])
    wait_for(lambda: len(_events(data, "door")) == 1, timeout=30)
    assert _events(data, "door").iloc[-1]["Person"] == "Taro_Yamada"
    pending = []
    if _face_detail_is_complete(data, photos / "taro.png"):
        wait_for(lambda: len(_events(data, "analysis")) == 1, timeout=30)
    else:  # the course's formatter reads Eyeglasses ... directly: no analysis log without them
        assert len(_events(data, "analysis")) == 0
        pending.append("issue 12 §2: FaceDetail lacks Eyeglasses/Sunglasses/Beard/Mustache, so no analysis log")
    # The course's sensor script sends "Value": "123" (a string): stored as sent (issue 12 §3).
    wait_for(lambda: len(_events(data, "sensor")) == 1, timeout=30)
    assert _events(data, "sensor").iloc[-1]["Value"] == "123"
    # Every record at the moment it was made, whatever zone its device wrote (issue 12 §4).
    window = (started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))
    for kind in ("auth", "door", "sensor", "analysis"):
        for when in _events(data, kind)["Datetime"]:
            assert window[0] <= when <= window[1], (kind, when, window)
    if pending:
        pytest.xfail("; ".join(pending))
