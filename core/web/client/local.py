"""In-process transport: the request goes through ``core.web.routes`` exactly as over HTTP,
minus the socket (the local world's camera page needs no server or key)."""

from __future__ import annotations

import uuid

from core.config import Settings
from core.faces.port import FaceCollections
from core.objects.port import ObjectStore
from core.web import routes
from core.web.client.port import FaceApi


class LocalFaceApi(FaceApi):
    """Also what ``core.web.routes`` runs the request on: it carries the three ports the
    routes use (``settings``, ``faces``, ``objects``)."""

    def __init__(self, settings: Settings, faces: FaceCollections, objects: ObjectStore):
        self.settings, self.faces, self.objects = settings, faces, objects

    def post(self, route, body):
        event = {
            "resource": f"/{route}",
            "path": f"/{route}",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": "local"},
        }
        response = routes.handle_route(route, event, self)
        return response["statusCode"], response["body"], response["headers"]
