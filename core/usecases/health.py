"""One health line per component for the app's status bar: is each port answering?"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import CollectionNotFound, FaceGateError


@dataclass
class ComponentHealth:
    component: str  # faces / objects / publisher / events
    ok: bool
    detail: str  # short, technical, language-neutral (numbers, names, the error code)


def _check(component: str, probe) -> ComponentHealth:
    try:
        return ComponentHealth(component, True, probe())
    except FaceGateError as exc:
        return ComponentHealth(component, False, f"{exc.code}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - a status line must never break the page
        return ComponentHealth(component, False, f"{type(exc).__name__}: {exc}")


def component_health(services) -> list[ComponentHealth]:
    """Probe each port with one cheap call. Never raises."""
    s = services.settings

    def faces():
        try:
            n = services.faces.describe_collection(CollectionId=s.collection)["FaceCount"]
            return f"{s.collection}: {n} faces"
        except CollectionNotFound:
            return f"{s.collection}: not created yet (first enrolment creates it)"

    def objects():
        services.objects.list_objects(s.photos_bucket, "history/")
        return f"{s.photos_bucket}, {s.faces_bucket}"

    def publisher():
        st = services.publisher.status()
        if not st.get("connected", False):
            raise ConnectionError(f"{st.get('endpoint', '?')} not connected, outbox {st.get('outbox_depth', 0)}")
        return f"{st.get('endpoint', '?')}, outbox {st.get('outbox_depth', 0)}"

    def events():
        services.events.query("auth", limit=1)
        return "ok"

    return [
        _check("faces", faces),
        _check("objects", objects),
        _check("publisher", publisher),
        _check("events", events),
    ]
