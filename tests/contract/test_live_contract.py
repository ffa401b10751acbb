"""Live mode's identification path in both worlds: a face located in a video frame is searched
(``identify_face``) and its appearance recorded (``record_face``) through the course's Web API
as the app reaches it — in process over the local engine, and over the aws adapters as the
deployed Lambda runs it, with Rekognition's answers from botocore's Stubber (which checks each
request: the collection, the threshold, MaxFaces, DetectFaces ALL). The records land in each
world's event store (in aws through the store's own writer, standing in for IoT Core's rules,
which moto cannot run)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from botocore.stub import ANY

from core.events.direct import DirectPublisher
from core.live.detector import HogFaceDetector
from core.usecases.capture import Still, identify_face, record_face
from core.web.client.local import LocalFaceApi
from tests.browser.harness import face_frame
from tests.contract.test_faces_contract import _enrol, _face

# Where the face sits in the search crop (the crop is the face plus 40 % on each side).
CROP_BOX = {"Width": 0.55, "Height": 0.55, "Left": 0.22, "Top": 0.22}
DETAIL = {
    "BoundingBox": CROP_BOX,
    "AgeRange": {"Low": 25, "High": 35},
    "Smile": {"Value": True, "Confidence": 90.0},
    "Eyeglasses": {"Value": False, "Confidence": 95.0},
    "Sunglasses": {"Value": False, "Confidence": 99.0},
    "Gender": {"Value": "Female", "Confidence": 97.0},
    "Beard": {"Value": False, "Confidence": 96.0},
    "Mustache": {"Value": False, "Confidence": 98.0},
    "EyesOpen": {"Value": True, "Confidence": 97.0},
    "MouthOpen": {"Value": True, "Confidence": 80.0},
    "Emotions": [{"Type": "HAPPY", "Confidence": 90.0}],
    "Landmarks": [{"Type": "eyeLeft", "X": 0.4, "Y": 0.4}],
    "Pose": {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0},
    "Quality": {"Brightness": 80.0, "Sharpness": 90.0},
    "Confidence": 99.9,
}


def test_a_live_appearance_is_identified_and_recorded_like_a_photo(world, labelled):
    services = world.services
    _enrol(world, labelled["amy"][0].read_bytes())
    services.settings = dataclasses.replace(services.settings, collection="people")
    services.api = LocalFaceApi(
        services.settings, services.faces, services.objects
    )  # the routes on this world's adapters
    services.publisher = DirectPublisher(services.events)
    rgb = np.asarray(face_frame(labelled["amy"][2]))
    (box,) = HogFaceDetector().detect(rgb)
    still = Still(rgb)

    world.aws_answers(
        "search_faces_by_image",
        {
            "SearchedFaceBoundingBox": CROP_BOX,
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": [{"Similarity": 98.6, "Face": _face("amy")}],
            "FaceModelVersion": "7.0",
        },
        params={
            "CollectionId": "people",
            "Image": {"Bytes": ANY},
            "MaxFaces": 10,
            "FaceMatchThreshold": 80.0,
            "QualityFilter": "NONE",
        },
    )
    face = identify_face(services, still, box.ratios(640, 480))
    assert face.person == "amy" and face.similarity > 80 and face.detail == {}
    # The searched face, moved from the crop back into the frame, is where the detector saw it.
    assert abs(face.box["Left"] - box.x / 640) < 0.1 and abs(face.box["Width"] - box.w / 640) < 0.1

    world.aws_answers(
        "detect_faces", {"FaceDetails": [DETAIL]}, params={"Image": {"Bytes": ANY}, "Attributes": ["ALL"]}
    )
    result = record_face(services, still, face, "live")
    assert result.door_opened and result.person == "amy"
    assert result.picture_name.startswith("live_") and (result.width, result.height) == (640, 480)
    assert result.published == {"auth": 1, "analysis": 1, "door": 1}
    assert services.objects.get_object(services.settings.photos_bucket, result.picture_name) == still.jpeg

    (auth,) = services.events.query("auth").to_dict("records")
    assert (auth["Person"], bool(auth["AuthenticationResult"]), auth["PictureName"]) == (
        "amy",
        True,
        result.picture_name,
    )
    (door,) = services.events.query("door").to_dict("records")
    assert door["Person"] == "amy"
    (analysis,) = services.events.query("analysis").to_dict("records")
    assert analysis["Gender"] in ("Female", "Male")


@pytest.mark.slow
@pytest.mark.parametrize("world", ["aws"], indirect=True)
def test_aws_live_calls_rekognition_within_the_budget_and_the_page_shows_calls_per_minute(world, labelled):
    """In the aws world each identification is a Rekognition SearchFacesByImage and each logged
    appearance a DetectFaces: with a budget of one identification a minute, a second person
    arriving waits (shown as pending, no call made), and the page's status line shows the
    Rekognition calls of the last minute, counted here on the boto3 client itself."""
    from streamlit.testing.v1 import AppTest

    from core.live.detector import warm_up
    from core.live.policy import CallBudget, Cooldown
    from core.live.session import LiveSession
    from tests.live.test_session import play

    services = world.services
    _enrol(world, labelled["amy"][0].read_bytes())
    services.settings = dataclasses.replace(services.settings, collection="people")
    services.api = LocalFaceApi(services)  # the Web API's routes on the aws adapters, as the Lambda runs them
    services.publisher = DirectPublisher(services.events)
    calls: list[str] = []
    services.faces.client.meta.events.register(
        "provide-client-params.rekognition.*", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1])
    )
    search = {"CollectionId": "people", "Image": {"Bytes": ANY}, "MaxFaces": 10, "FaceMatchThreshold": 80.0}
    world.aws_answers(
        "search_faces_by_image",
        {
            "SearchedFaceBoundingBox": CROP_BOX,
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": [{"Similarity": 98.6, "Face": _face("amy")}],
            "FaceModelVersion": "7.0",
        },
        params={**search, "QualityFilter": "NONE"},
    )
    world.aws_answers(
        "detect_faces", {"FaceDetails": [DETAIL]}, params={"Image": {"Bytes": ANY}, "Attributes": ["ALL"]}
    )
    warm_up()
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(per_minute=1, burst=1))
    try:
        play(live, labelled["amy"][2], 0.5, until=lambda: live.snapshot().published.get("door") == 1)
        play(live, None, 1.0)
        # bernadette: detected, but the minute's one identification is spent.
        play(live, labelled["bernadette"][3], 2.0, until=lambda: live.snapshot().stats.budget_waits > 0)
        snap = live.snapshot()
    finally:
        live.stop()
        live.join()
    assert calls == ["SearchFacesByImage", "DetectFaces"]
    assert [t.state for t in snap.tracks] == ["pending"]
    assert [(s.person, s.door) for s in snap.sightings] == [("amy", "opened")]
    assert snap.published == {"auth": 1, "analysis": 1, "door": 1}
    assert snap.stats.calls_per_minute == len(calls) == 2

    def status_line(snap):
        from pages._live import _status

        _status(snap, "aws")

    page = AppTest.from_function(status_line, args=(snap,), default_timeout=30).run()
    shown = " ".join(c.value for c in page.caption) + " ".join(i.value for i in page.info)
    assert "Rekognition 呼び出し 2 回/分（照合の上限 1 回/分）" in shown, shown
    assert "照合の上限（1 回/分）に達したため、照合を待たせています。" in shown, shown
