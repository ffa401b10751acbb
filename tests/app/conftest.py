"""AppTest fixtures: the real app on the real local world in a temporary data dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def jpeg(path: Path, size: int | None = None) -> bytes:
    """A face image as the JPEG a camera would give (optionally scaled to ``size`` wide)."""
    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize((size, int(img.height * size / img.width)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def blank_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 210, 220)).save(buf, format="JPEG")
    return buf.getvalue()


def texts(at) -> str:
    """Everything the user can read on the page, one string."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "success", "info", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [e.label for e in at.expander]
    return "\n".join(parts)


@pytest.fixture
def app(settings, admin):
    """Start the app signed in as an admin (Japanese by default, as for a browser without
    Accept-Language). ``viewer_app`` is the same without signing in."""
    return _start(admin.token)


@pytest.fixture
def viewer_app(settings):
    return _start(None)


def _start(token):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parent / "router_entry.py"), default_timeout=90)
    if token:
        at.session_state["facegate_session"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at, name: str):
    at.switch_page(str(ROOT / "pages" / f"{name}.py")).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def enrol(services, labelled, admin):
    """Enrol ``person`` from the first ``n`` labelled photos through core (setup, not under test)."""
    from core.usecases import people

    def _enrol(person: str, n: int = 3, as_name: str | None = None):
        images = [(p.name, jpeg(p)) for p in labelled[person][:n]]
        outcomes = people.enrol_person(services, as_name or person, images)
        assert all(o.indexed for o in outcomes), outcomes
        return outcomes

    return _enrol


def inline_images(at) -> list[str]:
    """The images shown inline as data URIs (pages._shared.private_image: biometric images get
    no /media URL); ``at.image`` holds only those served through Streamlit's media manager."""
    return [e.proto.body for e in at.get("html") if 'src="data:image/' in e.proto.body]
