"""The course's rules: ``SELECT * FROM '<topic>'`` and the object-key templates they use."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameter
from core.telemetry.rules import Action, MessageContext, course_rules, render_template


def test_key_templates():
    c = MessageContext("handson/authLogData", "id001", 1_700_000_000_123)
    assert render_template("${timestamp()}-auth-log-data.json", c) == "1700000000123-auth-log-data.json"
    assert render_template("${topic()}/${ clientid() }.json", c) == "handson/authLogData/id001.json"


@pytest.mark.parametrize("key", ["${DeviceID}.json", "${topic(2)}.json", "${timestamp() + 1}.json", "${}"])
def test_templates_beyond_the_shipped_functions_are_refused_when_the_rule_is_built(key):
    with pytest.raises(InvalidParameter, match="unsupported substitution template"):
        Action("object", "logs", key)


def test_the_course_rules():
    rules = {r.name: r for r in course_rules("handson", "facegate-logs")}
    assert rules["sensorLogRule"].sql == "SELECT * FROM 'handson/sensorLogData'"
    assert rules["sensorLogRule"].matches("handson/sensorLogData")
    assert not rules["sensorLogRule"].matches("handson/authLogData")
    assert [a.kind for a in rules["sensorLogRule"].actions] == ["table", "events"]
    auth_object = rules["authLogRule"].actions[0]
    assert (auth_object.kind, auth_object.bucket, auth_object.key) == (
        "object",
        "facegate-logs",
        "${timestamp()}-auth-log-data.json",
    )
    assert rules["doorOpenLogRule"].actions[0].key == "${timestamp()}-door-open-log-data.json"
    assert rules["analysisLogRule"].actions[0].kind == "stream"


def test_the_local_rules_are_the_templates_rules():
    """Both worlds run the same SQL: the local rule engine's four rules are the topic rules of
    deploy/template.yaml, and object keys end alike (aws adds a folder and ``${newuuid()}``:
    IoT Core's ``timestamp()`` is not unique per message, the local engine's is)."""
    from core.deploy.template import load_template

    resources = load_template()["Resources"]
    deployed = {}
    for res in resources.values():
        if res.get("Type") == "AWS::IoT::TopicRule":
            payload = res["Properties"]["TopicRulePayload"]
            sql = payload["Sql"]
            deployed[sql["Fn::Sub"] if isinstance(sql, dict) else sql] = payload
    for rule in course_rules("${TopicPrefix}", "logs"):
        assert rule.sql in deployed, rule.sql
        keys = [a.key for a in rule.actions if a.kind == "object"]
        s3_keys = [a["S3"]["Key"] for a in deployed[rule.sql]["Actions"] if "S3" in a]
        for key in keys:
            suffix = key.rsplit("}", 1)[1]
            assert any(
                k.startswith(f"{rule.actions[-1].event_kind}/${{timestamp()}}") and k.endswith(suffix) for k in s3_keys
            ), (
                key,
                s3_keys,
            )
