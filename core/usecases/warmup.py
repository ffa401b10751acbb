"""A new app process's slow first-page work, done before any browser asks.

``python -m core app run`` calls ``warm_up`` beside the server's own start-up: the imports the
chart pages need, and the process's shared services (face models loaded), which the pages then
use. The analytics copy (~40 MB with an empty store, ~90 MB more per million events) is loaded
when an admin, who alone sees the charts, is signed in (``streamlit_app.py``), not at start: a
stack whose app only identifies faces does not hold it (issue 15's memory target). Measured on 2 cores with a million
events: the analytics page's first render in a new process fell from about 3 s to the warm
figure (bench/analytics.py)."""

from __future__ import annotations

import importlib

from core.bootstrap import Services, shared_services
from core.config import Settings

# Imported for their import time: what the analytics page needs first. Not DuckDB (~12 MB): it
# comes with the analytics copy, loaded in the background when an admin signs in.
CHART_MODULES = ("plotly.graph_objects", "plotly.io", "core.analytics.figures", "core.analytics.queries")


def warm_up(settings: Settings) -> Services:
    """Import the chart modules and build (and warm) the shared services for ``settings``.
    Returns them; raises ConfigError as ``build_services`` does."""
    for name in CHART_MODULES:
        importlib.import_module(name)
    return shared_services(settings)
