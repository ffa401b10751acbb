"""Security-test fixtures: the real local API server in this process on a free port."""

from __future__ import annotations

import contextlib
import threading

import pytest


@contextlib.contextmanager
def running_api(services):
    """The local Web API (core.web.server) on 127.0.0.1:<free port> serving ``services``."""
    from core.web.server import serve_api

    server = serve_api(services.settings, host="127.0.0.1", port=0, services=services)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def api_key(settings) -> str:
    from core.web.apikeys import ApiKeyStore

    return ApiKeyStore(settings.data_dir).create("security-tests")[1]
