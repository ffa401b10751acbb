"""Shared fixtures. Tests use the real local world in a temporary data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """``../shared/data/faces``; tests that need it skip visibly when it is absent."""
    if not (SHARED_FACES / "labelled").is_dir():
        pytest.skip(f"shared face images not found at {SHARED_FACES} (CI always has them)")
    return SHARED_FACES


@pytest.fixture(scope="session")
def labelled(faces_dir) -> dict[str, list[Path]]:
    """person -> sorted image paths."""
    return {p.name: sorted(p.glob("*.png")) for p in sorted((faces_dir / "labelled").iterdir()) if p.is_dir()}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from core.config import load_settings

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    # No broker in unit tests: publish() stores straight into the event store.
    monkeypatch.setenv("FACEGATE_PUBLISHER", "direct")
    for var in ("FACEGATE_BACKEND", "FACEGATE_COLLECTION", "FACEGATE_MATCH_THRESHOLD"):
        monkeypatch.delenv(var, raising=False)
    return load_settings()


@pytest.fixture
def services(settings):
    from core.services import build_services

    svc = build_services(settings)
    yield svc
    svc.close()
