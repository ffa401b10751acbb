"""Live recognition: watch a video stream and identify each person who appears, once.

The pieces, each usable and testable on its own:

- ``tracker``  — face tracks across frames: IoU/centroid association of detections, and a
  constant-velocity prediction so boxes follow a face between detections (no model needed).
- ``detector`` — the cheap per-frame face detector that feeds the tracker (dlib HOG).
- ``policy``   — when a track is identified (new, changed, stale), when its records are due,
  the per-person cooldown, and the identification budget (calls per minute).
- ``stats``    — frames shown and dropped, stalls, identification calls per minute, latencies.
- ``overlay``  — boxes and names drawn on the returned frame.
- ``session``  — ``LiveSession``: the video thread's per-frame step plus the detection,
  identification and recording workers, built on the photo flow's use case (``core.usecases.capture``)
  so a live appearance leaves exactly the records a photo does.
- ``webrtc``   — the streamlit-webrtc/aiortc adapter (av frames in and out, ICE servers).
"""
