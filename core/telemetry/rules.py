"""The IoT rules SQL subset the course uses, and the course's four rules.

Supported: ``SELECT * | expr [AS name], ... FROM '<topic filter>' [WHERE condition]`` where an
expression is a payload field (``Person``, ``a.b``, `` `AgeRange-Low` `` or ``"AgeRange-Low"``
for names with a hyphen), a literal (``'text'``, ``12.5``, ``true``, ``false``, ``null``),
``topic()``, ``topic(n)`` (1-based level), ``timestamp()`` (ms since epoch at receipt),
``clientid()``; conditions use ``= <> != < <= > >=``, ``AND``, ``OR``, ``NOT`` and brackets.
As in IoT Core, comparing a missing field or mismatched types gives *undefined*, which a
``WHERE`` treats as false. Substitution templates (``${timestamp()}-auth-log-data.json``)
use the same expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import InvalidParameter
from core.telemetry.wire import topic_matches


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class MessageContext:
    """What a rule sees of one message."""

    payload: dict
    topic: str
    client_id: str
    timestamp_ms: int


_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | '(?P<string>(?:[^']|'')*)'
    | `(?P<bquote>[^`]+)`
    | "(?P<dquote>[^"]+)"
    | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,|\.|\*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
_FUNCTIONS = {"topic", "timestamp", "clientid"}


def _tokenize(text: str) -> list[tuple[str, object]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidParameter(f"cannot read rule SQL at {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "number":
            tokens.append(("lit", float(value) if any(c in value for c in ".eE") else int(value)))
        elif kind == "string":
            tokens.append(("str", value.replace("''", "'")))
        elif kind in ("bquote", "dquote"):
            tokens.append(("name", value))
        elif kind == "word" and value.upper() in _KEYWORDS:
            tokens.append(("kw", value.upper()))
        elif kind == "word":
            tokens.append(("name", value))
        else:
            tokens.append(("op", value))
    return tokens


# Expressions are small tuples: ("lit", v) ("field", (names...)) ("fn", name, args)
# ("cmp", op, a, b) ("and", a, b) ("or", a, b) ("not", a).
class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, kind=None, value=None):
        if self.i >= len(self.tokens):
            return None
        tok = self.tokens[self.i]
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            return None
        return tok

    def take(self, kind=None, value=None):
        tok = self.peek(kind, value)
        if tok is None:
            got = self.tokens[self.i][1] if self.i < len(self.tokens) else "end of text"
            raise InvalidParameter(f"rule SQL: expected {value or kind}, found {got!r}")
        self.i += 1
        return tok

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def expr(self):
        left = self.and_expr()
        while self.peek("kw", "OR"):
            self.i += 1
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.peek("kw", "AND"):
            self.i += 1
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self):
        if self.peek("kw", "NOT"):
            self.i += 1
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self):
        left = self.primary()
        tok = self.peek("op")
        if tok and tok[1] in ("=", "<>", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return ("cmp", "<>" if tok[1] == "!=" else tok[1], left, self.primary())
        return left

    def primary(self):
        tok = self.take()
        kind, value = tok
        if kind == "lit":
            return ("lit", value)
        if kind == "str":
            return ("lit", value)
        if kind == "kw" and value in ("TRUE", "FALSE", "NULL"):
            return ("lit", {"TRUE": True, "FALSE": False, "NULL": None}[value])
        if kind == "op" and value == "(":
            inner = self.expr()
            self.take("op", ")")
            return inner
        if kind == "name":
            if self.peek("op", "(") and value.lower() in _FUNCTIONS:
                self.i += 1
                args = []
                while not self.peek("op", ")"):
                    args.append(self.expr())
                    if not self.peek("op", ")"):
                        self.take("op", ",")
                self.take("op", ")")
                return ("fn", value.lower(), tuple(args))
            path = [value]
            while self.peek("op", "."):
                self.i += 1
                path.append(self.take("name")[1])
            return ("field", tuple(path))
        raise InvalidParameter(f"rule SQL: unexpected {value!r}")


def evaluate(node, ctx: MessageContext):
    """Value of an expression for one message (``UNDEFINED`` for a missing field)."""
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "field":
        value = ctx.payload
        for name in node[1]:
            if not isinstance(value, dict) or name not in value:
                return UNDEFINED
            value = value[name]
        return value
    if tag == "fn":
        name, args = node[1], node[2]
        if name == "timestamp":
            return ctx.timestamp_ms
        if name == "clientid":
            return ctx.client_id
        levels = ctx.topic.split("/")
        if not args:
            return ctx.topic
        n = evaluate(args[0], ctx)
        return levels[n - 1] if isinstance(n, int) and 1 <= n <= len(levels) else UNDEFINED
    if tag == "not":
        value = evaluate(node[1], ctx)
        return UNDEFINED if not isinstance(value, bool) else not value
    if tag in ("and", "or"):
        a, b = evaluate(node[1], ctx), evaluate(node[2], ctx)
        if tag == "and":
            return a is True and b is True
        return a is True or b is True
    if tag == "cmp":
        return _compare(node[1], evaluate(node[2], ctx), evaluate(node[3], ctx))
    raise AssertionError(tag)


def _compare(op: str, a, b):
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    numeric = (int, float)
    same_kind = (
        isinstance(a, numeric) and not isinstance(a, bool) and isinstance(b, numeric) and not isinstance(b, bool)
    ) or type(a) is type(b)
    if not same_kind:
        return UNDEFINED
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if a is None or isinstance(a, (bool, dict, list)):
        return UNDEFINED
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


@dataclass(frozen=True)
class Query:
    """A parsed ``SELECT ... FROM '...' [WHERE ...]``."""

    sql: str
    topic_filter: str
    select: tuple = ()
    where: tuple | None = None

    def matches_topic(self, topic: str) -> bool:
        return topic_matches(self.topic_filter, topic)

    def apply(self, ctx: MessageContext) -> dict | None:
        """The selected record, or ``None`` when ``WHERE`` is not true."""
        if self.where is not None and evaluate(self.where, ctx) is not True:
            return None
        out: dict = {}
        for item in self.select:
            if item == "*":
                out.update(ctx.payload)
                continue
            node, alias = item
            value = evaluate(node, ctx)
            if value is not UNDEFINED:
                out[alias] = value
        return out


def parse_query(sql: str) -> Query:
    """Parse the SQL subset; raises ``InvalidParameter`` saying what is wrong."""
    p = _Parser(sql)
    p.take("kw", "SELECT")
    select = []
    while True:
        if p.peek("op", "*"):
            p.i += 1
            select.append("*")
        else:
            node = p.expr()
            if p.peek("kw", "AS"):
                p.i += 1
                alias = p.take("name")[1]
            elif node[0] == "field":
                alias = node[1][-1]
            elif node[0] == "fn":
                alias = node[1]
            else:
                raise InvalidParameter("rule SQL: give a name with AS for a computed value")
            select.append((node, alias))
        if not p.peek("op", ","):
            break
        p.i += 1
    p.take("kw", "FROM")
    topic_filter = p.take("str")[1]
    where = None
    if p.peek("kw", "WHERE"):
        p.i += 1
        where = p.expr()
    if not p.done():
        raise InvalidParameter(f"rule SQL: unexpected {p.tokens[p.i][1]!r} after the query")
    return Query(sql, topic_filter, tuple(select), where)


_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


def render_template(template: str, ctx: MessageContext) -> str:
    """Fill ``${...}`` substitution templates (an undefined value renders as empty)."""

    def sub(m: re.Match) -> str:
        p = _Parser(m.group(1))
        value = evaluate(p.expr(), ctx)
        return "" if value is UNDEFINED or value is None else str(value)

    return _TEMPLATE.sub(sub, template)


# -- the course's four rules ------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Where a rule sends its result: ``kind`` is ``table`` (the sensor table), ``object``
    (one object per message, ``key`` is a template), ``stream`` (Firehose-like batches) or
    ``events`` (the EventStore the analytics pages query)."""

    kind: str
    bucket: str = ""
    key: str = ""
    event_kind: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    sql: str
    actions: tuple[Action, ...]
    query: Query = field(init=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "query", parse_query(self.sql))


def course_rules(prefix: str, logs_bucket: str) -> list[Rule]:
    """HANDSON.md step 4: sensor → table; auth and door → one object per message; analysis →
    Firehose-like batches. Every rule also appends to the EventStore."""
    return [
        Rule(
            "sensorLogRule",
            f"SELECT * FROM '{prefix}/sensorLogData'",
            (Action("table"), Action("events", event_kind="sensor")),
        ),
        Rule(
            "authLogRule",
            f"SELECT * FROM '{prefix}/authLogData'",
            (Action("object", logs_bucket, "${timestamp()}-auth-log-data.json"), Action("events", event_kind="auth")),
        ),
        Rule(
            "doorOpenLogRule",
            f"SELECT * FROM '{prefix}/doorOpenLogData'",
            (
                Action("object", logs_bucket, "${timestamp()}-door-open-log-data.json"),
                Action("events", event_kind="door"),
            ),
        ),
        Rule(
            "analysisLogRule",
            f"SELECT * FROM '{prefix}/analysisLogData'",
            (Action("stream", logs_bucket, "analysis"), Action("events", event_kind="analysis")),
        ),
    ]
