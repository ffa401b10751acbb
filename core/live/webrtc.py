"""The streamlit-webrtc / aiortc adapter: av frames in and out of ``LiveSession.process``,
and the ICE configuration.

ICE: no STUN or TURN server by default (``FACEGATE_WEBRTC_ICE_SERVERS`` empty), so nothing is
fetched from the internet; the browser and aiortc then connect over their host candidates —
the same machine or the same LAN. A network with NAT between phone and server needs a TURN
server reachable by both, given in that setting as a JSON list of RTCIceServer objects
(docs/live.md).
"""

from __future__ import annotations

import time
from collections import deque

from core.config import ice_servers


def rtc_configuration(raw: str) -> dict:
    """The RTCConfiguration for both the browser and aiortc, from ``FACEGATE_WEBRTC_ICE_SERVERS``
    (an explicit empty list keeps streamlit-webrtc from fetching public STUN/TURN servers)."""
    return {"iceServers": ice_servers(raw)}


class _Delay:
    """How far the video being processed is behind the camera, in seconds: the growth of
    (arrival time - capture timestamp) over its smallest value in this stream. Frames that pile
    up before the callback (aiortc decodes every frame, in order) show up here, not as drops."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._base = None

    def seconds(self, frame_time: float | None) -> float:
        if frame_time is None:
            return 0.0
        lag = self.clock() - frame_time
        if self._base is None or lag < self._base:
            self._base = lag
        return lag - self._base


class _FrameGaps:
    """Camera frames that never reached the callback, read from the timestamps: the newest-frame
    relay below skips frames the server had no time for (and the browser's encoder may skip some
    too); a gap of n camera intervals means n - 1 frames were not shown. The camera's interval is
    the median gap lately (a frame-rate adapter keeps frames at slightly uneven intervals, so a
    gap must be clearly longer than usual to count)."""

    def __init__(self, window: int = 90):
        self._last: int | None = None
        self._gaps: deque[int] = deque(maxlen=window)

    def dropped_before(self, pts: int | None) -> int:
        if pts is None:
            return 0
        last, self._last = self._last, pts
        if last is None or pts <= last:
            return 0
        gap = pts - last
        self._gaps.append(gap)
        nominal = sorted(self._gaps)[len(self._gaps) // 2]
        return max(0, int(gap / nominal + 0.3) - 1)


def frame_callback(session):
    """A ``video_frame_callback`` for streamlit-webrtc, run without its async processing: the
    frame the relay hands over (the newest; the ones it skipped count as dropped on the page)
    goes through ``session.process`` and comes back with the boxes drawn.

    Why not ``async_processing`` (a thread per stream, the default): that mode returns the
    output of an *earlier* frame (the worker's last result) and repeats it when the worker is
    late, which added one frame interval or more to every name shown and showed repeats.
    ``session.process`` never waits (a mailbox put and the drawing: a few ms), so it can run on
    aiortc's own loop."""
    import av  # noqa: PLC0415 (comes with streamlit-webrtc)

    gaps, delay = _FrameGaps(), _Delay()

    def callback(frame):
        dropped = gaps.dropped_before(frame.pts)
        session.stats.delay(delay.seconds(frame.time))
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            frame = frame.reformat(width=frame.width // 2 * 2, height=frame.height // 2 * 2, format="yuv420p")
        out = session.process(frame.to_ndarray(format="yuv420p"), dropped=dropped)
        return av.VideoFrame.from_ndarray(out, format="yuv420p")

    return callback


def install_newest_frame_relay() -> None:
    """Make streamlit-webrtc hand each consumer only the newest frame.

    Why: streamlit-webrtc passes the browser's track to the processor and the processed track
    to the encoder through aiortc's ``MediaRelay``, subscribed *buffered*: every frame is
    queued without bound. When the server is slower than the camera (2 busy cores), that queue
    grows and the video shown falls further and further behind (measured: 11 s after 30 s).
    ``buffered=False`` keeps the newest frame only, which is what live video needs. The relay is
    one per server process, created on first use under a private attribute of Streamlit's
    runtime (streamlit-webrtc 0.79, pinned in requirements.txt); we put ours there first."""
    from aiortc.contrib.media import MediaRelay  # noqa: PLC0415
    from streamlit.runtime.runtime import Runtime  # noqa: PLC0415
    from streamlit_webrtc import relay as webrtc_relay  # noqa: PLC0415
    from streamlit_webrtc.eventloop import get_global_event_loop, loop_context  # noqa: PLC0415

    class NewestFrameRelay(MediaRelay):
        def subscribe(self, track, buffered: bool = False):
            return super().subscribe(track, buffered=False)

    runtime = Runtime.instance()
    name = webrtc_relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
    if type(getattr(runtime, name, None)).__name__ == "NewestFrameRelay":
        return
    with loop_context(get_global_event_loop()):
        setattr(runtime, name, NewestFrameRelay())


def stop_receiver_bandwidth_caps() -> None:
    """Stop aiortc from capping the browser's video bitrate with REMB (its receiver-side estimate).

    Why: aiortc's estimate follows the bitrate it receives (1.5x the incoming rate + 10 kbps)
    and cuts it by 15% whenever packets seem to queue, which they seem to on a busy machine,
    where its loop stamps arrivals late. Live video is mostly a still doorway, so the estimate
    fell to Chrome's floor: Chrome sent the camera at 30 kbps (measured with getStats), and a
    face stepping in was squeezed into tiny, slowly paced frames. Without REMB, Chrome keeps
    its own loss-based estimate (from aiortc's receiver reports), which backs off on a lossy
    network and otherwise rises from its start bitrate. Once per process; aiortc 1.16 (pinned)."""
    from aiortc import rate  # noqa: PLC0415

    if getattr(rate.RemoteBitrateEstimator.add, "facegate", False):
        return

    def add(self, arrival_time_ms, abs_send_time, payload_size, ssrc):
        return None  # no REMB: the caller sends one only for an estimate

    add.facegate = True  # type: ignore[attr-defined]
    rate.RemoteBitrateEstimator.add = add  # type: ignore[method-assign]
