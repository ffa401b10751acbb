"""In-process transport: the request goes through ``core.web.routes`` exactly as over HTTP,
minus the socket (the local world's camera page needs no server or key)."""

from __future__ import annotations

import uuid

from core.web import routes
from core.web.client.port import FaceApi


class LocalFaceApi(FaceApi):
    def __init__(self, services):
        self.services = services

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
        response = routes.handle_route(route, event, self.services)
        return response["statusCode"], response["body"], response["headers"]
