"""The streamlit-webrtc / aiortc adapter: av frames in and out of ``LiveSession.process``,
and the ICE configuration.

ICE: no STUN or TURN server by default (``FACEGATE_WEBRTC_ICE_SERVERS`` empty), so nothing is
fetched from the internet; the browser and aiortc then connect over their host candidates —
the same machine or the same LAN. A network with NAT between phone and server needs a TURN
server reachable by both, given in that setting as a JSON list of RTCIceServer objects
(docs/live.md).
"""

from __future__ import annotations

import json

from core.errors import ConfigError


def ice_servers(raw: str) -> list[dict]:
    """``FACEGATE_WEBRTC_ICE_SERVERS`` as a list of RTCIceServer dicts (``urls`` and, for
    TURN, ``username`` and ``credential``). Raises ConfigError naming what is wrong."""
    if not raw or not raw.strip():
        return []
    try:
        servers = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"FACEGATE_WEBRTC_ICE_SERVERS is not JSON: {exc}") from None
    if isinstance(servers, dict):
        servers = [servers]
    if not isinstance(servers, list):
        raise ConfigError("FACEGATE_WEBRTC_ICE_SERVERS must be a JSON list of {urls, username, credential}")
    out = []
    for s in servers:
        urls = s.get("urls") if isinstance(s, dict) else None
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not all(isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls):
            raise ConfigError(
                "FACEGATE_WEBRTC_ICE_SERVERS: each server needs urls starting with stun:, turn: or turns:"
            )
        server = {"urls": urls}
        for key in ("username", "credential"):
            if s.get(key) is not None:
                server[key] = str(s[key])
        if any(u.startswith("turn") for u in urls) and not ("username" in server and "credential" in server):
            raise ConfigError("FACEGATE_WEBRTC_ICE_SERVERS: a TURN server needs username and credential")
        out.append(server)
    return out


def rtc_configuration(raw: str) -> dict:
    """The RTCConfiguration for both the browser and aiortc (an explicit empty list keeps
    streamlit-webrtc from fetching public STUN/TURN servers)."""
    return {"iceServers": ice_servers(raw)}


def frames_callback(session):
    """A ``queued_video_frames_callback`` for streamlit-webrtc: of the frames that queued up
    while the previous one was processed, only the newest is processed and returned; the
    others count as dropped (shown on the page), never queued."""
    import av  # noqa: PLC0415 (comes with streamlit-webrtc)

    async def callback(frames: list) -> list:
        newest = frames[-1]
        out = session.process(newest.to_ndarray(format="rgb24"), dropped=len(frames) - 1)
        return [av.VideoFrame.from_ndarray(out, format="rgb24")]

    return callback
