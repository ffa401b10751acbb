"""The one composition root: builds every adapter for the configured world.

Pages, Lambda handlers and the CLI call ``build_services()`` (Streamlit through
``st.cache_resource``) and then only talk to the ports on ``Services``. The local world's
adapters are built in ``core.bootstrap.local``, the aws world's in ``core.bootstrap.aws``.
"""

from __future__ import annotations

from core.bootstrap.services import Services
from core.config import Settings, load_settings
from core.web.client.port import FaceApi


def build_services(settings: Settings | None = None) -> Services:
    """Adapters for ``settings.backend`` ("local" or "aws"). Raises ConfigError."""
    settings = settings or load_settings()
    if settings.backend == "aws":
        from core.bootstrap.aws import build_aws_services  # noqa: PLC0415 (the local world needs no boto3)

        services = build_aws_services(settings)
    else:
        from core.bootstrap.local import build_local_services  # noqa: PLC0415 (Lambda ships no local engine)

        services = build_local_services(settings)
    if services.api is None:
        services.api = build_api_client(services)
    if services.quicksight is None:
        from core.quicksight import build_quicksight

        services.quicksight = build_quicksight(settings)
    return services


def build_api_client(services: Services) -> FaceApi:
    """How the app reaches identification: in process locally (the same ``core.web.routes``
    code the HTTP server runs, without a socket), the deployed API over HTTP in aws
    (``FACEGATE_API_URL`` + ``FACEGATE_API_KEY``; a missing URL or key raises ConfigError
    on the first call, not here)."""
    settings = services.settings
    if settings.backend == "aws":
        from core.web.client.http import HttpFaceApi

        return HttpFaceApi(settings.api_url, settings.api_key)
    from core.web.client.local import LocalFaceApi

    return LocalFaceApi(services)


__all__ = ["Services", "build_api_client", "build_services"]
