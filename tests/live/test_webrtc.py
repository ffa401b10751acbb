"""Live's WebRTC side and settings: the cooldown, the identifications per minute and the ICE servers (STUN /
TURN), validated when settings load; TURN credentials never shown."""

from __future__ import annotations

import json

import pytest

from core.config import load_settings
from core.errors import ConfigError
from core.live.webrtc import rtc_configuration, stop_receiver_bandwidth_caps


def settings(tmp_path, **env):
    return load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path), **env}, secrets_file=tmp_path / "none.toml")


def test_defaults_need_no_server_on_the_internet(tmp_path):
    s = settings(tmp_path)
    assert (s.live_cooldown_seconds, s.live_identifications_per_minute) == (30.0, 30.0)
    # An explicit empty list: streamlit-webrtc would otherwise fetch public STUN/TURN servers.
    assert rtc_configuration(s.webrtc_ice_servers) == {"iceServers": []}


def test_a_turn_server_is_passed_to_both_ends_and_its_credential_is_hidden(tmp_path):
    turn = {"urls": "turn:turn.example.org:3478", "username": "door", "credential": "s3cret"}
    s = settings(tmp_path, FACEGATE_WEBRTC_ICE_SERVERS=json.dumps([{"urls": ["stun:stun.example.org"]}, turn]))
    assert rtc_configuration(s.webrtc_ice_servers)["iceServers"] == [
        {"urls": ["stun:stun.example.org"]},
        {"urls": ["turn:turn.example.org:3478"], "username": "door", "credential": "s3cret"},
    ]
    assert "s3cret" not in repr(s) and "s3cret" not in json.dumps(s.public_dict())


@pytest.mark.parametrize(
    "var, value, fragment",
    [
        ("FACEGATE_WEBRTC_ICE_SERVERS", "turn:x", "not JSON"),
        ("FACEGATE_WEBRTC_ICE_SERVERS", '[{"urls": "http://x"}]', "stun:, turn: or turns:"),
        ("FACEGATE_WEBRTC_ICE_SERVERS", '[{"urls": "turn:x:3478"}]', "needs username and credential"),
        ("FACEGATE_WEBRTC_ICE_SERVERS", '"stun:x"', "JSON list"),
        ("FACEGATE_LIVE_COOLDOWN_SECONDS", "-1", "FACEGATE_LIVE_COOLDOWN_SECONDS"),
        ("FACEGATE_LIVE_IDENTIFICATIONS_PER_MINUTE", "0", "FACEGATE_LIVE_IDENTIFICATIONS_PER_MINUTE"),
    ],
)
def test_bad_live_settings_name_the_variable(tmp_path, var, value, fragment):
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, **{var: value})
    assert fragment in str(err.value) and ("FACEGATE_" in str(err.value))


def test_frames_skipped_upstream_are_counted_from_the_timestamps():
    from core.live.webrtc import _FrameGaps

    gaps = _FrameGaps()
    step = 6000  # 15 fps on the 90 kHz RTP clock
    pts = [0, step, 2 * step, 3 * step, 4 * step, 7 * step, 8 * step, 8 * step, None]
    assert [gaps.dropped_before(p) for p in pts] == [0, 0, 0, 0, 0, 2, 0, 0, 0]
    # Slightly uneven intervals (a frame-rate adapter) are not drops.
    uneven = _FrameGaps()
    assert sum(uneven.dropped_before(p) for p in (0, 6000, 9000, 15000, 21000, 30000, 36000)) == 0


def test_streamlit_webrtc_still_keeps_its_relay_where_we_replace_it():
    """install_newest_frame_relay relies on streamlit-webrtc 0.79's global relay attribute."""
    from streamlit_webrtc import relay

    assert isinstance(relay._SERVER_GLOBAL_RELAY_ATTR_NAME_, str)
    assert callable(relay.get_global_relay)


def test_the_delay_is_the_growth_of_the_lag_behind_the_camera():
    from core.live.webrtc import _Delay

    now = [100.0]
    delay = _Delay(clock=lambda: now[0])
    assert delay.seconds(0.0) == 0.0  # the first frame sets the baseline (clock offsets cancel)
    now[0] = 101.0
    assert delay.seconds(1.0) == 0.0  # arriving in step with the camera
    now[0] = 104.0
    assert delay.seconds(2.0) == 2.0  # frame from t=2 processed at t=4: 2 s behind
    assert delay.seconds(None) == 0.0


def test_aiortc_sends_no_bandwidth_cap_once_stopped():
    """aiortc's receiver estimate held the browser's camera at Chrome's 30 kbps floor (a still
    doorway looks like a slow link); once stopped, no REMB is produced for any packet."""
    from aiortc.rate import RemoteBitrateEstimator

    stop_receiver_bandwidth_caps()
    stop_receiver_bandwidth_caps()  # idempotent
    estimator = RemoteBitrateEstimator()
    # 10 s of 1 kB packets every 10 ms: aiortc reports an estimate within the first seconds.
    remb = [estimator.add(t, (t << 18) // 1000, 1000, 1234) for t in range(0, 10_000, 10)]
    assert remb == [None] * len(remb)
