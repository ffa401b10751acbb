"""One health line per component for the app's status bar: is each port answering?

Each line says what the user can act on, in a form the UI translates (``say`` + ``values``);
``detail`` keeps the technical wording for logs. A publisher that is still connecting, or
that has nothing to send yet (IoT Core connects on the first publish), is not a fault: only a
publisher that tried and cannot reach its broker is, and the line says the records wait in the
outbox (nothing is lost).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.bootstrap.services import Services
from core.errors import CollectionNotFound, FaceGateError, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass
class ComponentHealth:
    component: str  # faces / objects / publisher / events
    ok: bool
    detail: str  # short, technical, language-neutral (logs, CLI)
    say: str = ""  # what the UI says: the i18n key ``health.say.<say>`` filled with ``values``
    values: dict = field(default_factory=dict)
    error: FaceGateError | None = None  # the failure, for the UI's error text


class _Problem(Exception):
    def __init__(self, say: str, detail: str, **values):
        super().__init__(detail)
        self.say, self.detail, self.values = say, detail, values


def _check(component: str, probe) -> ComponentHealth:
    try:
        say, detail, values = probe()
        return ComponentHealth(component, True, detail, say, values)
    except _Problem as p:
        return ComponentHealth(component, False, p.detail, p.say, p.values)
    except FaceGateError as exc:
        return ComponentHealth(component, False, f"{exc.code}: {exc.message}", "failed", error=exc)
    except Exception as exc:  # a status line must never break the page
        log.warning("health check of %s failed", component, exc_info=True)
        error = ServiceUnavailable(f"{component}: {type(exc).__name__}: {exc}")
        return ComponentHealth(component, False, error.message, "failed", error=error)


def component_health(services: Services) -> list[ComponentHealth]:
    """Probe each port with one cheap call. Never raises."""
    s = services.settings

    def faces():
        try:
            n = services.faces.describe_collection(CollectionId=s.collection)["FaceCount"]
            say, line, values = "faces_count", f"{s.collection}: {n} faces", {"collection": s.collection, "n": n}
        except CollectionNotFound:
            say, line, values = "faces_none", f"{s.collection}: not created yet", {"collection": s.collection}
        engine = services.faces.engine_status()  # which runtime the local engine uses (technical)
        if engine is None:
            return say, line, values
        return f"{say}_engine", f"{line}; {engine}", {**values, "engine": engine}

    def objects():
        services.objects.list_objects(s.photos_bucket, "history/")
        return (
            "objects_ok",
            f"{s.photos_bucket}, {s.faces_bucket}",
            {"photos": s.photos_bucket, "faces": s.faces_bucket},
        )

    def publisher():
        st = services.publisher.status()
        endpoint, depth = st.get("endpoint", "?"), int(st.get("outbox_depth", 0))
        state = st.get("state") or ("connected" if st.get("connected") else "offline")
        values = {"endpoint": endpoint, "outbox": depth}
        if st.get("direct"):
            return "publisher_direct", endpoint, values
        if state == "offline":
            raise _Problem("publisher_offline", f"{endpoint} not connected, outbox {depth}", **values)
        return f"publisher_{state}", f"{endpoint} {state}, outbox {depth}", values

    def events():
        services.events.query("auth", limit=1)
        return "events_ok", "ok", {}

    return [
        _check("faces", faces),
        _check("objects", objects),
        _check("publisher", publisher),
        _check("events", events),
    ]
