"""Security-test fixtures: the real local API server in this process on a free port."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def running_api(services):
    """The local Web API (core.web.server) on 127.0.0.1:<free port> serving ``services``."""
    from core.web.app import create_app
    from core.web.server import running

    with running(create_app(services)) as server:
        yield server


@pytest.fixture
def api_key(settings) -> str:
    from core.web.apikeys import ApiKeyStore

    return ApiKeyStore(settings.data_dir).create("security-tests")[1]
