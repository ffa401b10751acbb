"""Security headers on every HTTP answer of the app (issue 13 §16).

Streamlit has no option for response headers; its ASGI form (``st.App``, served by the same
uvicorn that ``streamlit run`` uses) takes Starlette middleware, and ``streamlit_asgi.py`` adds
this one. What is sent, and why not more:

* ``X-Content-Type-Options: nosniff`` - a served file is never run as another type.
* ``X-Frame-Options: SAMEORIGIN`` and CSP ``frame-ancestors 'self'`` - no other site can frame
  the app (click-jacking the admin's buttons); the app's own component iframes (the phone
  sensors) are same-origin and still load.
* CSP ``object-src 'none'; base-uri 'self'`` - no plugins, no ``<base>`` rewriting links.
* ``Referrer-Policy: same-origin`` - page URLs do not leak to other sites.

No ``script-src``/``style-src``/``frame-src``: Streamlit's frontend uses inline styles and
scripts (and ``st.html`` scripts such as the sign-in cookie), and the QuickSight page frames
``*.quicksight.aws.amazon.com``; a policy strict enough to matter there would break them.
"""

from __future__ import annotations

from typing import Any

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'; object-src 'none'; base-uri 'self'"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware: add ``HEADERS`` to every HTTP response (WebSockets pass untouched);
    a header the app set itself is kept."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
