"""The one composition root: builds every adapter for the configured world.

Pages (through ``shared_services``: one per process and settings), Lambda handlers and the
CLI call ``build_services()`` and then only talk to the ports on ``Services``. The local world's
adapters are built in ``core.bootstrap.local``, the aws world's in ``core.bootstrap.aws``;
each returns a complete ``Services``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from core.bootstrap.services import Services
from core.config import Settings, load_settings


def build_services(settings: Settings | None = None) -> Services:
    """Adapters for ``settings.backend`` ("local" or "aws"). Raises ConfigError."""
    settings = settings or load_settings()
    if settings.backend == "aws":
        from core.bootstrap.aws import build_aws_services  # noqa: PLC0415 (the local world needs no boto3)

        return build_aws_services(settings)
    from core.bootstrap.local import build_local_services  # noqa: PLC0415 (Lambda ships no local engine)

    return build_local_services(settings)


# The app process's Services, one per settings (see shared_services).
_SHARED: OrderedDict[Settings, Services] = OrderedDict()
_SHARED_LOCK = threading.Lock()
SHARED_MAX = 2  # the settings page can change settings: the old ones' services are closed


def shared_services(settings: Settings) -> Services:
    """The process's one ``Services`` for ``settings``, built and warmed on first use (face
    models loaded now; the analytics copy only when an admin signs in: ``warm_columnar``), so
    every page, session and the app's start-up warm-up share one face engine. Keeps ``SHARED_MAX``; building
    another closes the least recently used. Raises ConfigError."""
    with _SHARED_LOCK:
        services = _SHARED.get(settings)
        if services is not None:
            _SHARED.move_to_end(settings)
            return services
        services = build_services(settings)
        services.faces.warm_up()
        _SHARED[settings] = services
        while len(_SHARED) > SHARED_MAX:
            _settings, old = _SHARED.popitem(last=False)
            old.close()  # e.g. the MQTT connection of settings since changed
        return services


def close_shared_services() -> None:
    """Close and forget every shared ``Services`` (tests; process end)."""
    with _SHARED_LOCK:
        while _SHARED:
            _SHARED.popitem()[1].close()


__all__ = ["Services", "build_services", "close_shared_services", "shared_services"]
