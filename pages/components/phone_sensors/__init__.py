"""The phone-sensor component: ``index.html`` here (no build step, nothing fetched from the
internet) declared once for the logs page. Returns the latest hand-over of readings."""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

_component = components.declare_component("phone_sensors", path=str(Path(__file__).resolve().parent))


def phone_sensors(text: dict[str, str], key: str):
    """Render the sensor panel with UI ``text`` (start, stop, rate, geo, ...); returns
    ``{"seq": n, "readings": [...]}`` from the browser, or None before the first hand-over."""
    return _component(text=text, key=key, default=None)
