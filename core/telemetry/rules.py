"""The course's four IoT rules, as the local rule engine runs them.

Every rule FaceGate ships is ``SELECT * FROM '<topic>'`` (HANDSON.md step 4) and rules are not
user-configurable, so there is no IoT-SQL parser here: a rule is a topic filter whose record is
the payload unchanged, plus its actions. Object keys use IoT Core's substitution-template
syntax for the three functions a key needs: ``${timestamp()}`` (ms since the epoch at receipt),
``${topic()}`` and ``${clientid()}``; any other template is refused when the rule is built.
The aws world's rules are the same SQL text in ``deploy/template.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidParameter
from core.telemetry.wire import topic_matches


@dataclass(frozen=True)
class MessageContext:
    """What a key template sees of one message."""

    topic: str
    client_id: str
    timestamp_ms: int


_TEMPLATE = re.compile(r"\$\{([^}]*)\}")
_FUNCTIONS = {
    "timestamp()": lambda ctx: str(ctx.timestamp_ms),
    "topic()": lambda ctx: ctx.topic,
    "clientid()": lambda ctx: ctx.client_id,
}


def check_template(template: str) -> str:
    """``template`` if every ``${...}`` in it is one of the supported functions, else raise
    ``InvalidParameter`` naming the one that is not."""
    for m in _TEMPLATE.finditer(template):
        if m.group(1).strip() not in _FUNCTIONS:
            raise InvalidParameter(f"unsupported substitution template ${{{m.group(1)}}} in {template!r}")
    return template


def render_template(template: str, ctx: MessageContext) -> str:
    """Fill ``${timestamp()}``, ``${topic()}`` and ``${clientid()}`` in an object key."""
    return _TEMPLATE.sub(lambda m: _FUNCTIONS[m.group(1).strip()](ctx), template)


@dataclass(frozen=True)
class Action:
    """Where a rule sends its record: ``kind`` is ``table`` (the sensor table), ``object``
    (one object per message, ``key`` is a template), ``stream`` (Firehose-like batches) or
    ``events`` (the EventStore the analytics pages query)."""

    kind: str
    bucket: str = ""
    key: str = ""
    event_kind: str = ""

    def __post_init__(self):
        if self.kind == "object":
            check_template(self.key)


@dataclass(frozen=True)
class Rule:
    """``SELECT * FROM '<topic_filter>'`` with its actions."""

    name: str
    topic_filter: str
    actions: tuple[Action, ...]

    @property
    def sql(self) -> str:
        return f"SELECT * FROM '{self.topic_filter}'"

    def matches(self, topic: str) -> bool:
        return topic_matches(self.topic_filter, topic)


def course_rules(prefix: str, logs_bucket: str) -> list[Rule]:
    """HANDSON.md step 4: sensor → table; auth and door → one object per message; analysis →
    Firehose-like batches. Every rule also appends to the EventStore."""
    return [
        Rule("sensorLogRule", f"{prefix}/sensorLogData", (Action("table"), Action("events", event_kind="sensor"))),
        Rule(
            "authLogRule",
            f"{prefix}/authLogData",
            (Action("object", logs_bucket, "${timestamp()}-auth-log-data.json"), Action("events", event_kind="auth")),
        ),
        Rule(
            "doorOpenLogRule",
            f"{prefix}/doorOpenLogData",
            (
                Action("object", logs_bucket, "${timestamp()}-door-open-log-data.json"),
                Action("events", event_kind="door"),
            ),
        ),
        Rule(
            "analysisLogRule",
            f"{prefix}/analysisLogData",
            (Action("stream", logs_bucket, "analysis"), Action("events", event_kind="analysis")),
        ),
    ]
