"""Store what IoT Core stores (issue 12 §3): every JSON object a ``SELECT *`` rule would deliver
is stored as sent; types are read where the data is read, and what cannot be read is said."""

from __future__ import annotations

import json

import pytest

from core.analytics import queries
from core.telemetry.ca import LocalCA
from core.telemetry.sensor_table import LocalSensorTable

from .conftest import settle, wait_for
from .rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker

# As the course's scripts send them (step4/pub_sensor_data.py: ``"Value"`` is the command-line
# string, its int() commented out), and the shapes a learner's edits produce.
AS_SENT = [
    ("handson/sensorLogData", {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:00Z", "Value": "123"}),
    ("handson/sensorLogData", {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:01Z", "Value": "abc"}),
    ("handson/doorOpenLogData", {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:02Z"}),
    ("handson/authLogData", {"DeviceID": "id001", "Datetime": "2026-04-01 18:00:03", "AuthenticationResult": False}),
    (
        "handson/analysisLogData",
        {"Datetime": "2026-04-01 18:00:04", "AgeRange-Low": "15", "AgeRange-High": 20, "Smile": "true"},
    ),
]


def test_the_courses_payloads_are_stored_as_sent_and_read_where_they_are_read(runner, stack, paths, tele_settings):
    creds = LocalCA(paths.pki).device_credentials("id001")
    client = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
    try:
        assert client.connect("id001") == 0
        for i, (topic, payload) in enumerate(AS_SENT, start=1):
            assert client.publish(topic, json.dumps(payload).encode(), i) == 0
    finally:
        client.close()
    settle(stack)
    assert stack.journal.errors() == []  # nothing refused
    events = runner.events
    wait_for(lambda: sum(events.count(k) for k in ("sensor", "door", "auth", "analysis")) == len(AS_SENT))

    # Stored as sent: the sensor table (DynamoDB's stand-in), the log objects, the event store.
    table = LocalSensorTable(paths.tables).query(tele_settings.sensor_table, "id001")
    assert [item["Value"] for item in table] == ["123", "abc"]
    sensor = events.query("sensor")
    assert sensor["Value"].tolist() == ["123", "abc"]
    door = events.query("door").iloc[0]
    assert door["DeviceID"] == "id001" and door.isna()["Person"]  # no Person: stored anyway
    analysis = events.query("analysis").iloc[0]
    assert analysis["AgeRange-Low"] == "15" and analysis["Smile"] == "true"
    (auth_object,) = [o.key for o in runner.objects.list_objects(tele_settings.logs_bucket) if "auth-log" in o.key]
    assert json.loads(runner.objects.get_object(tele_settings.logs_bucket, auth_object)) == AS_SENT[3][1]

    # Read where read: the chart takes "123" as 123; "abc" is counted as unreadable, not dropped.
    con = events.columnar()
    try:
        f = queries.AnalyticsFilter()
        series = queries.sensor_series(con, f, "day")
        assert series["readings"].tolist() == [2] and series["max"].tolist() == [123.0]
        assert queries.kpis(con, f)["unreadable"] == 1
        ages = queries.age_distribution(con, f)
        assert ages["decade"].tolist() == [10]  # ("15" + 20) / 2
    finally:
        con.close()


def test_the_analytics_page_says_how_many_values_could_not_be_read(services):
    from tests.analytics.test_pages import run_page, texts

    services.events.append(
        "sensor",
        [{"DeviceID": "id001", "Datetime": "2026-04-01T09:00:00Z", "Value": v} for v in ("12.5", "high", "7")],
        ["a", "b", "c"],
    )
    at = run_page("analytics")
    assert "1 records in this range have a value that could not be read" in texts(at)
