"""What a Lambda container keeps between invocations: the services, built on first use."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_services = None


def services():
    """The container's ``Services`` (from FACEGATE_* environment variables), built once.
    Raises ConfigError when the environment is wrong; the next call tries again."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                from core.bootstrap import build_services  # noqa: PLC0415 (built once per container, under the lock)

                _services = build_services()
    return _services
