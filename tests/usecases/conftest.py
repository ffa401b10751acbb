"""Use-case tests on the fakes at the ports (tests/fakes.py): orchestration only, in
milliseconds, without dlib or ../shared. Every test here acts as the operator (an admin)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fakes import fake_services


class Clock:
    """The object store's clock, movable by the test."""

    def __init__(self):
        self.now = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(settings, clock):
    from core.access import sessions

    services = fake_services(settings, clock)
    with sessions.operator(settings, "tests"):
        yield services
