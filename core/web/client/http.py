"""HTTP transport: the deployed API (aws) or the local server, with its ``x-api-key``."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from core.errors import ConfigError, ServiceUnavailable
from core.web.client.port import FaceApi


class HttpFaceApi(FaceApi):
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0):
        self.base_url = (base_url or "").rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def _check(self) -> None:
        # Checked when used, not when built: the app must start before `deploy up` has run.
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"FACEGATE_API_URL must be the deployed API's http(s) URL, not {self.base_url!r} "
                "(python -m core deploy up writes it)"
            )
        if not self._api_key:
            raise ConfigError("FACEGATE_API_KEY is empty (python -m core deploy up writes it)")

    def __repr__(self) -> str:  # never the key
        return f"HttpFaceApi({self.base_url!r})"

    def post(self, route, body):
        self._check()
        request = urllib.request.Request(  # noqa: S310 (http/https only: _check)
            f"{self.base_url}/{route}",
            data=body.encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/json", "x-api-key": self._api_key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http/https only)
                return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers or {})
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceUnavailable(f"the Web API at {self.base_url} cannot be reached: {reason}") from None
