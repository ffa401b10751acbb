"""The IoT rules SQL subset and substitution templates (no broker needed)."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameter
from core.telemetry.rules import MessageContext, course_rules, parse_query, render_template


def ctx(payload, topic="handson/sensorLogData", client="id001-1", ts=1_700_000_000_123):
    return MessageContext(payload, topic, client, ts)


def test_select_star_returns_the_payload_unchanged():
    q = parse_query("SELECT * FROM 'handson/sensorLogData'")
    payload = {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:00Z", "Value": 3}
    assert q.matches_topic("handson/sensorLogData") and not q.matches_topic("handson/authLogData")
    assert q.apply(ctx(payload)) == payload


@pytest.mark.parametrize(
    "where, payload, selected",
    [
        ("Value > 10", {"Value": 11}, True),
        ("Value > 10", {"Value": 10}, False),
        ("Value > 10", {"Value": "11"}, False),  # type mismatch is undefined, as in IoT SQL
        ("Value > 10", {}, False),  # a missing field is undefined
        (
            "Person = 'Taro_Yamada' AND AuthenticationResult = true",
            {"Person": "Taro_Yamada", "AuthenticationResult": True},
            True,
        ),
        (
            "Person = 'Taro_Yamada' AND AuthenticationResult = true",
            {"Person": "Taro_Yamada", "AuthenticationResult": False},
            False,
        ),
        ("NOT (Gender = 'Male') OR Smile = true", {"Gender": "Male", "Smile": True}, True),
        ("NOT (Gender = 'Male') OR Smile = true", {"Gender": "Male", "Smile": False}, False),
        ('`AgeRange-Low` >= 20 AND "AgeRange-High" <= 30', {"AgeRange-Low": 20, "AgeRange-High": 30}, True),
        ("Accel.x <> 0", {"Accel": {"x": 1.5}}, True),
        ("topic(2) = 'sensorLogData'", {}, True),
        ("topic(1) = 'other'", {}, False),
        ("Person = 'O''Brien'", {"Person": "O'Brien"}, True),
    ],
)
def test_where_conditions(where, payload, selected):
    q = parse_query(f"SELECT * FROM 'handson/+' WHERE {where}")
    assert (q.apply(ctx(payload)) is not None) is selected


def test_select_list_with_functions_and_aliases():
    q = parse_query(
        "SELECT DeviceID, Value AS distance, topic(2) AS kind, timestamp() AS ts, clientid() FROM 'handson/#'"
    )
    out = q.apply(ctx({"DeviceID": "id001", "Value": 3.5, "Other": 1}))
    assert out == {
        "DeviceID": "id001",
        "distance": 3.5,
        "kind": "sensorLogData",
        "ts": 1_700_000_000_123,
        "clientid": "id001-1",
    }


@pytest.mark.parametrize(
    "bad",
    [
        "SELECT FROM 'x'",
        "SELECT * 'x'",
        "SELECT * FROM x",
        "SELECT * FROM 'x' WHERE",
        "SELECT * FROM 'x' WHERE a = 1 extra",
        "SELECT 1 FROM 'x'",
        "DELETE FROM 'x'",
        "SELECT * FROM 'x' WHERE a ~ 1",
    ],
)
def test_bad_sql_is_a_clear_error(bad):
    with pytest.raises(InvalidParameter, match="rule SQL|cannot read"):
        parse_query(bad)


def test_substitution_templates():
    c = ctx({"DeviceID": "id001"}, topic="handson/authLogData")
    assert render_template("${timestamp()}-auth-log-data.json", c) == "1700000000123-auth-log-data.json"
    assert render_template("${topic(2)}/${DeviceID}/${missing}.json", c) == "authLogData/id001/.json"


def test_the_course_rules():
    rules = {r.name: r for r in course_rules("handson", "facegate-logs")}
    assert rules["sensorLogRule"].sql == "SELECT * FROM 'handson/sensorLogData'"
    assert [a.kind for a in rules["sensorLogRule"].actions] == ["table", "events"]
    auth_object = rules["authLogRule"].actions[0]
    assert (auth_object.kind, auth_object.bucket, auth_object.key) == (
        "object",
        "facegate-logs",
        "${timestamp()}-auth-log-data.json",
    )
    assert rules["doorOpenLogRule"].actions[0].key == "${timestamp()}-door-open-log-data.json"
    assert rules["analysisLogRule"].actions[0].kind == "stream"
