"""``POST /analyze``: DetectFaces with every attribute (the course's step 3)."""

from __future__ import annotations

from core.web import routes
from lambda_src import _container


def handler(event, context):
    """API Gateway proxy event -> proxy response (never raises)."""
    try:
        services = _container.services()
    except Exception as exc:  # noqa: BLE001 - a bad environment is a mapped 500, not a crash
        return routes.error_response(exc, routes.request_id_of(event, context), "analyze")
    return routes.handle_route("analyze", event, services, context)
