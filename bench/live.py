"""Live mode end to end in a real browser: frames shown per second with overlays, how soon a
known person's name appears, that strangers are never named, one auth log per appearance, and
the server's memory over the stream.

Starts the app (local world; amy and bernadette enrolled with one photo each, cooldown 15 s so
each appearance is logged, a split one once) and Debian chromium at 390x844 whose fake camera loops a video of
people appearing one after another with gaps (tests/browser/harness.live_video: each frame
carries a face marker and its index). A probe in the page samples every camera frame and every
frame shown back (requestVideoFrameCallback): the name latency is from the first camera frame
showing the face to the first shown frame with a name label, both on the page's clock.
Baselines from the same run: the camera's own frame rate, and ``core.usecases.capture.identify_face``
in process on the same frame (so the ratio shows what streaming and detection add).

    .venv/bin/python bench/live.py [--quick | --minutes 2] [--rss-every 30]

Each target prints a row "target ...: met / NOT met". ``--quick`` (1 min of stream, ~2.5 min in
all) is for a shared machine; the memory target needs ``--minutes 10`` to mean much.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.harness import (  # noqa: E402
    GREEN_MIN,
    LIVE_PROBE_JS,
    MJPEG_FPS,
    face_frame,
    live_probe,
    live_video,
    phone_browser,
    running_app,
    start_live,
    unwrap_counter,
)

FACES = ROOT.parent / "shared" / "data" / "faces" / "labelled"
KNOWN = ("amy", "bernadette")
# One loop of the fake camera (~34 s): two enrolled people and two strangers, each for 4 s,
# with 3-4 s of nobody between them.
SCRIPT = [
    (None, 4.0),
    ("amy", 4.0),
    (None, 3.0),
    ("penny", 4.0),
    (None, 3.0),
    ("bernadette", 4.0),
    (None, 3.0),
    ("howard", 4.0),
    (None, 4.0),
]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def rss_mb(pid: int) -> float:
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def segments_played(cam: list[dict], starts: list[int], period: int):
    """(loop, segment, t_enter) for each segment the camera played from its first frame."""
    index = unwrap_counter(cam, period)
    seen = {}
    for sample, i in zip(cam, index, strict=True):
        loop, n = divmod(i, period)
        seg = max(k for k, s in enumerate(starts) if s <= n)
        seen.setdefault((loop, seg), sample["t"])
    return index, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to stream (10 for the memory figure)")
    parser.add_argument("--quick", action="store_true", help="1 minute of stream (overrides --minutes)")
    parser.add_argument("--rss-every", type=float, default=30.0, help="seconds between server RSS samples")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.rss_every = 1.0, min(args.rss_every, 15.0)
    if not FACES.is_dir():
        print(f"skipped: {FACES} not found")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="fg-bench-live-"))
    data = tmp / "data"
    data.mkdir()
    env = {
        "FACEGATE_DATA_DIR": str(data),
        "FACEGATE_SECRETS_FILE": str(tmp / "none.toml"),
        "FACEGATE_PUBLISHER": "direct",
        "FACEGATE_LIVE_COOLDOWN_SECONDS": "15",  # < the loop (34 s): each appearance logs, a split one once
        "FACEGATE_LIVE_IDENTIFICATIONS_PER_MINUTE": "600",
        "FACEGATE_LOG_LEVEL": "INFO",  # the server log says when each face appeared and was named
    }
    os.environ.update(env)
    import numpy as np

    from core.access.sessions import operator
    from core.bootstrap import build_services
    from core.config import load_settings
    from core.live.detector import HogFaceDetector, warm_up
    from core.live.frames import planes, rgb_to_i420
    from core.usecases import people
    from core.usecases.capture import Still, identify_face

    services = build_services(load_settings())
    with operator(services.settings, "bench"):
        for person in KNOWN:
            people.enrol_person(services, person, [("1.png", (FACES / person / "1.png").read_bytes())])

    # Baselines in process: the detector and one identification on a frame of the video.
    warm_up()
    rgb = np.asarray(face_frame(FACES / "amy" / "3.png"))
    luma = planes(rgb_to_i420(rgb))[0]  # what the live path detects on
    detector = HogFaceDetector()
    (box,) = detector.detect(luma)
    ratios = box.ratios(rgb.shape[1], rgb.shape[0])
    identify_face(services, Still(rgb), ratios)
    detect_ms, identify_ms = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        detector.detect(luma)
        detect_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        identify_face(services, Still(rgb), ratios)
        identify_ms.append((time.perf_counter() - t0) * 1000)
    services.close()

    segments = [(FACES / who / "3.png" if who else None, seconds) for who, seconds in SCRIPT]
    starts = live_video(segments, tmp / "live.mjpeg")
    period = round(sum(s for _, s in SCRIPT) * MJPEG_FPS)
    rss = []
    video, profile = tmp / "live.mjpeg", tmp / "profile"
    with running_app(data, extra_env=env) as url, phone_browser(video, profile, init_script=LIVE_PROBE_JS) as page:
        page.goto(url)
        start_live(page)
        t_start = time.monotonic()
        end = t_start + args.minutes * 60
        statuses = []
        while True:
            rss.append((time.monotonic() - t_start, rss_mb(url.pid)))
            status = page.locator(".st-key-live_status")
            statuses.append(" ".join(status.inner_text().split()) if status.count() else "(no status: not playing)")
            if time.monotonic() >= end:
                break
            page.wait_for_timeout(1000 * min(args.rss_every, max(0.0, end - time.monotonic())))
        cam, shown = live_probe(page)
        # The page's clock is milliseconds from its frame's time origin: wall time = origin + t.
        origin = next(f for f in page.frames if "streamlit_webrtc" in f.url).evaluate("performance.timeOrigin") / 1000
    log = "\n".join(line for f in tmp.glob("streamlit-*.log") for line in f.read_text().splitlines() if "live:" in line)
    (tmp / "live.log").write_text(log)

    # --- figures -------------------------------------------------------------------------
    cam_index, entered = segments_played(cam, starts, period)
    shown_index = unwrap_counter(shown, period)
    by_segment = defaultdict(list)
    for sample, i in zip(shown, shown_index, strict=True):
        loop, n = divmod(i, period)
        by_segment[(loop, max(k for k, s in enumerate(starts) if s <= n))].append(sample)
    # Frames shown per second: distinct camera frames the page showed back, per wall second.
    per_second = defaultdict(set)
    for sample, i in zip(shown, shown_index, strict=True):
        per_second[int(sample["t"] // 1000)].add(i)
    seconds = sorted(per_second)[2:-1]  # the stream's first seconds and the cut-off last one
    fps = [len(per_second[s]) for s in seconds]
    by_second = defaultdict(list)
    for sample in shown:
        by_second[int(sample["t"] // 1000)].append(sample["p"])
    presented = [min(by_second[s + 1]) - min(by_second[s]) for s in seconds if by_second[s] and by_second[s + 1]]
    cam_per_second = defaultdict(int)
    for sample in cam:
        cam_per_second[int(sample["t"] // 1000)] += 1
    cam_fps = [cam_per_second[s] for s in sorted(cam_per_second)[2:-1]]

    # The server's known faces from its log: (wall time of the frame first detected, of the name).
    server_known = []
    for stamp, seconds in re.findall(r"^(\S+ \S+) INFO .*?: known after ([\d.]+) s", log, re.MULTILINE):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        server_known.append((at - float(seconds), at))
    server_known.sort()
    parts: dict[str, list[float]] = defaultdict(list)
    latencies, missed, strangers_named, appearances = [], 0, 0, defaultdict(int)
    last_loop = max(loop for loop, _ in entered) if entered else 0
    for (loop, seg), t_enter in sorted(entered.items()):
        who = SCRIPT[seg][0]
        complete = (loop, seg + 1) in entered or loop < last_loop  # the segment was shown in full
        if who is None or not complete:
            continue
        appearances["known" if who in KNOWN else "stranger"] += 1
        frames = by_segment.get((loop, seg), [])
        named = [s["t"] for s in frames if s["g"] >= GREEN_MIN]
        if who in KNOWN:
            if named:
                latencies.append((min(named) - t_enter) / 1000)
                enter_wall, shown_wall = origin + t_enter / 1000, origin + min(named) / 1000
                # The server's detection and name for this face (wall clock, same machine).
                mine = [(b, n) for b, n in server_known if enter_wall - 0.5 <= b <= shown_wall]
                if mine:
                    born, name_at = mine[0]
                    parts["entered -> first detected frame (server)"].append(born - enter_wall)
                    parts["first detected frame -> named (server)"].append(name_at - born)
                    parts["named (server) -> shown with the name"].append(shown_wall - name_at)
            else:
                missed += 1
        elif named:
            strangers_named += 1

    # Where the name's delay builds: the video's own round trip (a frame's index shown back vs
    # when the camera delivered it, both on the page's clock) and the server's detection-to-name
    # time (its log), per appearance.
    cam_at: dict[int, float] = {}
    for sample, i in zip(cam, cam_index, strict=True):
        cam_at.setdefault(i, sample["t"])
    back_at: dict[int, float] = {}
    for sample, i in zip(shown, shown_index, strict=True):
        back_at.setdefault(i, sample["t"])
    round_trip = [(t - cam_at[i]) / 1000 for i, t in back_at.items() if i in cam_at]
    server_named: dict[str, float] = {}
    for appearance, seconds in re.findall(r"appearance (\d+): known after ([\d.]+) s", log):
        server_named.setdefault(appearance, float(seconds))

    services = build_services(load_settings())
    auth = services.events.query("auth")
    per_picture = auth.groupby("PictureName").size() if len(auth) else []
    services.close()

    print(f"live mode, real chromium 390x844, fake camera 640x480 (page asks <= 15 fps), {args.minutes:g} min")
    print(f"  camera frames/s in the page (baseline)   median {statistics.median(cam_fps):5.1f}")
    print(
        f"  shown frames/s with overlays             median {statistics.median(fps):5.1f}   "
        f"p10 {pct(fps, 0.10):5.1f}   ratio to camera {statistics.median(fps) / statistics.median(cam_fps):4.2f}"
        "   (distinct camera frames the probe saw come back: a lower bound)"
    )
    print(f"  frames the page presented/s              median {statistics.median(presented):5.1f}   (repeats included)")
    if latencies:
        print(
            f"  known name shown after the face entered  p50 {statistics.median(latencies):5.2f} s   "
            f"p90 {pct(latencies, 0.9):5.2f} s   ({len(latencies)} appearances, {missed} never named)"
        )
    else:
        print(f"  known name shown: never ({missed} appearances)")
    ident_ms = statistics.median(identify_ms)
    ratio = f"   (latency / identify_face: {1000 * statistics.median(latencies) / ident_ms:4.1f}x)" if latencies else ""
    print(
        f"  baselines in process: detector {statistics.median(detect_ms):5.1f} ms/frame, "
        f"identify_face {ident_ms:5.1f} ms{ratio}"
    )
    print(f"  strangers named on the video: {strangers_named} of {appearances['stranger']} appearances")
    print(
        f"  auth logs: {len(auth)} for {appearances['known'] + appearances['stranger']} complete appearances "
        f"(+ those cut off at the end); pictures with more than one auth log: "
        f"{int(sum(1 for n in per_picture if n > 1))}"
    )
    if round_trip:
        print(
            f"  video round trip camera -> server -> shown p50 {statistics.median(round_trip):5.2f} s   "
            f"p90 {pct(round_trip, 0.9):5.2f} s   (no recognition in it: the transport's share)"
        )
    if server_named:
        named_s = list(server_named.values())
        print(
            f"  server: first detection -> name         p50 {statistics.median(named_s):5.2f} s   "
            f"p90 {pct(named_s, 0.9):5.2f} s   ({len(named_s)} known appearances, from its log)"
        )
    for what, values in parts.items():
        print(f"    {what:<44} p50 {statistics.median(values):5.2f} s   ({len(values)} appearances)")
    print("  server RSS (MB) over time: " + ", ".join(f"{t / 60:.1f} min {m:.0f}" for t, m in rss))
    slope = None
    if len(rss) >= 4:
        half = rss[len(rss) // 2 :]
        slope = (half[-1][1] - half[0][1]) / max(1e-9, (half[-1][0] - half[0][0]) / 60)
        print(f"  RSS change over the second half: {slope:+.2f} MB/min")
    for (t, _), text in zip(rss, statuses, strict=True):
        print(f"  status at {t / 60:4.1f} min: {text}")
    print(f"  server log of the live session: {tmp / 'live.log'} ({log.count('appeared')} faces appeared)")

    def target(what: str, value: str, met: bool | None) -> None:
        verdict = "met" if met else "NOT met" if met is not None else "-"
        print(f"  target {what:<44} {value:<28} {verdict}")

    load = os.getloadavg()[0]
    print(f"targets (issue 16; load average now {load:.1f} on {os.cpu_count()} cores):")
    shown_fps = statistics.median(fps) if fps else 0.0
    target(">= 10 fps shown with overlays", f"{shown_fps:.1f} fps (probe, lower bound)", shown_fps >= 10)
    p50 = statistics.median(latencies) if latencies else None
    named_in = f"{p50:.2f} s" if p50 is not None else "never"
    target("known name <= 0.5 s after entering (p50)", named_in, p50 is not None and p50 <= 0.5)
    target("strangers never named", f"{strangers_named} of {appearances['stranger']}", strangers_named == 0)
    repeats = int(sum(1 for n in per_picture if n > 1))
    target("one auth log per appearance", f"{repeats} pictures with more", repeats == 0)
    # Judged on 10 minutes only: in a short run the slope is the model warm-up and GC swings.
    long_run = args.minutes >= 10
    flat = None if slope is None or not long_run else abs(slope) <= 1.0
    note = "" if long_run else " (not judged: --minutes 10)"
    target("server memory flat (|slope| <= 1 MB/min)", f"{slope:+.2f} MB/min{note}" if slope is not None else "-", flat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
