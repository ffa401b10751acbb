"""Who may read the Logs page's tail (issue 13 §8), checked in core for every read: the page's
fragment reads again every two seconds, and each read must be refused once the admin is gone.
The real-browser half (a signed-out or idle tab) is tests/browser/test_signed_out_tabs.py."""

from __future__ import annotations

import pytest

from core.access import sessions
from core.access.sessions import AccessControl, AdminRequired
from core.events.records import door_open_record, sensor_record, utc_now
from core.usecases import logs
from tests.security.test_roles import PASSWORD, Clock


@pytest.fixture
def stored(services):
    services.publisher.publish("door", door_open_record("id001", utc_now(), "Penny"))
    services.publisher.publish("sensor", sensor_record("id001", utc_now(), 1.0))
    return services


def test_a_viewer_reads_the_sensor_stream_only(stored):
    prefix = stored.settings.topic_prefix
    door = f"{prefix}/doorOpenLogData"
    for topic in (None, door, f"{prefix}/authLogData", f"{prefix}/analysisLogData"):
        with pytest.raises(AdminRequired):
            logs.recent_messages(stored, topic)
        with pytest.raises(AdminRequired):
            logs.stored_recently(stored, topic)
        assert logs.readable_topic(stored, topic) == logs.sensor_topic(stored)
    sensor = logs.stored_recently(stored, logs.sensor_topic(stored))
    assert list(sensor["kind"]) == ["sensor"]


def test_an_admin_reads_everything_until_signed_out(stored, settings, admin):
    everything = logs.stored_recently(stored, None)
    assert set(everything["kind"]) == {"door", "sensor"} and "Penny" in set(everything["Person"].dropna())
    assert logs.readable_topic(stored, None) is None
    sessions.access_control(settings).sign_out(admin.token)  # e.g. in another tab
    with pytest.raises(AdminRequired):
        logs.stored_recently(stored, None)


def test_a_check_that_nobody_caused_does_not_keep_the_session_alive(settings):
    clock = Clock()
    ctl = AccessControl(settings, clock=clock)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
    s = ctl.sign_in(PASSWORD, client="t")
    idle = settings.session_idle_minutes * 60
    for _ in range(int(idle // 2) + 1):  # a fragment refreshing every two seconds
        clock.now += 2
        ctl.session(s.token, touch=False)
    assert ctl.session(s.token, touch=False) is None  # expired: the refreshes were not use
