"""The live detector on real portraits (dlib's HOG and 5-point model): faces found in the Y
plane, and signatures that tell the same face from someone else in the same place."""

from __future__ import annotations

import numpy as np
import pytest

from core.live.detector import HogFaceDetector
from core.live.tracker import same_face
from tests.browser.harness import face_frame


def luma(image, face_height=0.5) -> np.ndarray:
    return np.asarray(face_frame(image, face_height=face_height).convert("L"))


@pytest.fixture(scope="module")
def detector():
    return HogFaceDetector()


def test_one_face_per_portrait_and_none_on_an_empty_frame(detector, labelled):
    for person in ("amy", "penny"):
        (box,) = detector.detect(luma(labelled[person][0]))
        assert 150 < box.w < 300 and 100 < box.x < 300
    assert detector.detect(luma(None)) == []


def test_signatures_follow_a_face_and_tell_people_apart(detector, labelled):
    def signature(image, face_height=0.5):
        frame = luma(image, face_height)
        (box,) = detector.detect(frame)
        return detector.signature(frame, box)

    amy = signature(labelled["amy"][2])
    assert same_face(amy, signature(labelled["amy"][2], face_height=0.6))  # walked closer
    for other in ("bernadette", "penny", "howard"):
        assert not same_face(amy, signature(labelled[other][2])), other
