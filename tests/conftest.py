"""Shared fixtures. Tests use the real local world in a temporary data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"

# `make test-fast` (pytest -m fast): the use cases on fakes (tests/usecases) and the modules below,
# which need no face model, browser, broker, ../shared photos or child process.
FAST_MODULES = {
    "tests/test_config.py",
    "tests/test_object_store.py",
    "tests/test_import_rules.py",
    "tests/app/test_pages_structure.py",
    "tests/api/test_server_limits.py",
    "tests/telemetry/test_rules.py",
    "tests/security/test_ratelimit.py",
    "tests/analytics/test_queries.py",
    "tests/analytics/test_quicksight.py",
}
_NOT_FAST = ("slow", "browser", "broker")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if (path in FAST_MODULES or path.startswith("tests/usecases/")) and not any(
            item.get_closest_marker(name) for name in _NOT_FAST
        ):
            item.add_marker(pytest.mark.fast)


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


ADMIN_TEST_PASSWORD = "test-admin-password"


@pytest.fixture
def admin(settings):
    """Admin rights the way an installation gets them, not a bypass: the operator sets the admin
    password (``python -m core access set-password``), then the test signs in with it. The test
    body acts as this admin (``core.access.sessions.acting_as``); for an AppTest put ``admin.token`` in
    ``at.session_state["facegate_session"]``. Tests without this fixture are anonymous viewers."""
    from core.access import sessions

    ctl = sessions.access_control(settings)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(ADMIN_TEST_PASSWORD)
    session = ctl.sign_in(ADMIN_TEST_PASSWORD, client="tests")
    with sessions.acting_as(session):
        yield session


@pytest.fixture
def services(settings):
    from core.bootstrap import build_services

    svc = build_services(settings)
    yield svc
    svc.close()
