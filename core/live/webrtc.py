"""The streamlit-webrtc / aiortc adapter: av frames in and out of ``LiveSession.process``,
and the ICE configuration.

ICE: no STUN or TURN server by default (``FACEGATE_WEBRTC_ICE_SERVERS`` empty), so nothing is
fetched from the internet; the browser and aiortc then connect over their host candidates —
the same machine or the same LAN. A network with NAT between phone and server needs a TURN
server reachable by both, given in that setting as a JSON list of RTCIceServer objects
(docs/live.md).
"""

from __future__ import annotations

from core.config import ice_servers


def rtc_configuration(raw: str) -> dict:
    """The RTCConfiguration for both the browser and aiortc, from ``FACEGATE_WEBRTC_ICE_SERVERS``
    (an explicit empty list keeps streamlit-webrtc from fetching public STUN/TURN servers)."""
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
