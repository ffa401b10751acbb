"""How the app reaches identification: the Web API's client port and its two adapters.

``build_api_client(services)`` gives an in-process client in the local world (the same
``core.webapi`` code the HTTP server runs, without a socket) and an HTTP client of the
deployed API (``FACEGATE_API_URL`` + ``FACEGATE_API_KEY``) in the aws world. Both build
requests and read answers through the same functions in ``port.py``.
"""

from __future__ import annotations

from core.apiclient.port import AnalysisAnswer, FaceApi, Match, SearchAnswer


def build_api_client(services) -> FaceApi:
    """The client for ``services.settings.backend``. In aws a missing URL or key raises
    ConfigError on the first call, not here."""
    settings = services.settings
    if settings.backend == "aws":
        from core.apiclient.http import HttpFaceApi

        return HttpFaceApi(settings.api_url, settings.api_key)
    from core.apiclient.local import LocalFaceApi

    return LocalFaceApi(services)


__all__ = ["AnalysisAnswer", "FaceApi", "Match", "SearchAnswer", "build_api_client"]
