"""Chart data as DuckDB SQL over ``EventStore.columnar()``: the same SQL in both worlds.

Every function takes a DuckDB connection (views ``auth``, ``analysis``, ``door``,
``sensor`` with the columns of ``core.events.columns``) and an ``AnalyticsFilter`` and returns
a small pandas DataFrame, already aggregated: a chart never pulls a million rows into pandas.

How the filters apply (the course's records do not all carry the same fields):
- device: auth, door and sensor by ``DeviceID``. Analysis records carry no DeviceID in the
  course contract, so the face-analysis charts (gender, age, emotion) keep records without
  one and narrow only those that have one.
- person: auth and door by ``Person``; "unknown" selects auth records nobody matched.
  Sensor and analysis records name no person, so the person filter leaves them alone.
- date range and time buckets use the display time zone (``utc_offset_minutes``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from core.analytics.spreadsheet import inert_frame
from core.errors import InvalidParameter

UNKNOWN = "__unknown__"  # the person filter's value for "faces nobody matched"
BUCKETS = {"minute": "1 minute", "hour": "1 hour", "day": "1 day"}


@dataclass(frozen=True)
class AnalyticsFilter:
    """What the user narrowed the dashboard to. ``since``/``until`` are UTC datetimes
    ([since, until)); empty tuples mean every device / every person."""

    since: datetime | None = None
    until: datetime | None = None
    devices: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    utc_offset_minutes: int = 0
    extra: tuple = field(default=())  # reserved so cached callers can add keys without breaking

    def span(self) -> timedelta | None:
        if self.since and self.until:
            return self.until - self.since
        return None


def _naive_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def _where(kind: str, f: AnalyticsFilter) -> tuple[str, list]:
    """SQL condition and parameters applying ``f`` to a view of ``kind``."""
    parts: list[str] = ["TRUE"]
    args: list[object] = []
    if f.since:
        parts.append("ts >= ?")
        args.append(_naive_utc(f.since))
    if f.until:
        parts.append("ts < ?")
        args.append(_naive_utc(f.until))
    if f.devices:
        if kind == "analysis":
            parts.append("(device IS NULL OR list_contains(?::VARCHAR[], device))")
        else:
            parts.append("list_contains(?::VARCHAR[], device)")
        args.append(list(f.devices))
    if f.people and kind in ("auth", "door"):
        named = [p for p in f.people if p != UNKNOWN]
        if kind == "auth":
            parts.append("(list_contains(?::VARCHAR[], person) OR (? AND NOT coalesce(result, FALSE)))")
            args += [named, UNKNOWN in f.people]
        else:
            parts.append("list_contains(?::VARCHAR[], person)")
            args.append(named)
    return " AND ".join(parts), args


def _local(f: AnalyticsFilter, column: str = "ts") -> str:
    return f"({column} + INTERVAL {int(f.utc_offset_minutes)} MINUTE)"


def _df(con, sql: str, args: list) -> pd.DataFrame:
    return con.execute(sql, args).df()


# Device times beyond this far ahead of now are a wrong clock, not data: they do not move the
# default range (they are counted and said instead).
FUTURE_SLACK = timedelta(days=1)


def filter_options(con, now: datetime | None = None) -> dict:
    """Devices and people that occur; the first/last event time (UTC, None when empty) among
    events not dated beyond ``now`` + a day; how many are (``future``) and how many have no
    readable time (``no_time``): a device's clock set to 2099 must not hide today's data."""
    devices = _df(
        con,
        """SELECT DISTINCT device FROM (
        SELECT device FROM auth UNION ALL SELECT device FROM door UNION ALL
        SELECT device FROM sensor UNION ALL SELECT device FROM analysis) WHERE device IS NOT NULL
        ORDER BY device""",
        [],
    )["device"].tolist()
    people = _df(
        con,
        """SELECT DISTINCT person FROM (SELECT person FROM auth UNION ALL SELECT person FROM door)
        WHERE person IS NOT NULL ORDER BY person""",
        [],
    )["person"].tolist()
    horizon = _naive_utc((now or datetime.now(UTC)) + FUTURE_SLACK)
    per_kind = " UNION ALL ".join(
        f"""SELECT min(ts) FILTER (WHERE ts <= $1) lo, max(ts) FILTER (WHERE ts <= $1) hi,
        count(*) FILTER (WHERE ts > $1) future, count(*) FILTER (WHERE ts IS NULL) no_time FROM {kind}"""
        for kind in ("auth", "door", "sensor", "analysis")
    )
    lo, hi, future, no_time = con.execute(
        f"SELECT min(lo), max(hi), sum(future), sum(no_time) FROM ({per_kind})", [horizon]
    ).fetchone()
    first, last = (None if v is None else pd.Timestamp(v).tz_localize("UTC").to_pydatetime() for v in (lo, hi))
    return {
        "devices": devices,
        "people": people,
        "first": first,
        "last": last,
        "future": int(future or 0),
        "no_time": int(no_time or 0),
    }


def kpis(con, f: AnalyticsFilter) -> dict:
    """Headline numbers: captures, identified, unknown, people seen, door opens, sensor
    readings, analysed faces, and records with a value that could not be read as its type
    (``unreadable``: stored as sent, left out of the charts that need that value)."""
    w, a = _where("auth", f)
    caps = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE ok), count(DISTINCT person) FROM (
        SELECT coalesce(picture, 'seq:' || seq) cap, bool_or(coalesce(result, FALSE)) ok,
               any_value(person) FILTER (WHERE result) person
        FROM auth WHERE {w} GROUP BY cap)""",
        a,
    ).fetchone()
    wd, ad = _where("door", f)
    ws, as_ = _where("sensor", f)
    wa, aa = _where("analysis", f)
    door = con.execute(f"SELECT count(*) FROM door WHERE {wd}", ad).fetchone()[0]
    sensor = con.execute(f"SELECT count(*) FROM sensor WHERE {ws}", as_).fetchone()[0]
    faces = con.execute(f"SELECT count(*) FROM analysis WHERE {wa}", aa).fetchone()[0]
    people = con.execute(f"SELECT count(DISTINCT person) FROM auth WHERE {w} AND result", a).fetchone()[0]
    unreadable = sum(
        con.execute(f"SELECT count(*) FROM {kind} WHERE {cond} AND unreadable > 0", args).fetchone()[0]
        for kind, cond, args in (("auth", w, a), ("door", wd, ad), ("sensor", ws, as_), ("analysis", wa, aa))
    )
    return {
        "unreadable": unreadable,
        "captures": caps[0],
        "identified": caps[1],
        "unknown": caps[0] - caps[1],
        "people": people,
        "door_opens": door,
        "sensor_readings": sensor,
        "faces_analysed": faces,
    }


def pick_bucket(f: AnalyticsFilter, first: datetime | None = None, last: datetime | None = None) -> str:
    """minute up to 6 hours, hour up to 14 days, else day (of the filter's span, or the data's)."""
    span = f.span()
    if span is None and first and last:
        span = (f.until or last) - (f.since or first)
    if span is None or span > timedelta(days=14):
        return "day"
    if span > timedelta(hours=6):
        return "hour"
    return "minute"


def sensor_series(con, f: AnalyticsFilter, bucket: str = "hour") -> pd.DataFrame:
    """Per device and time bucket: mean/min/max of the reading (``Value``, or the acceleration
    magnitude for boards that send only axes) and the number of readings."""
    w, a = _where("sensor", f)
    reading = "coalesce(value, sqrt(accel_x*accel_x + accel_y*accel_y + accel_z*accel_z))"
    return _df(
        con,
        f"""SELECT time_bucket(INTERVAL '{BUCKETS[bucket]}', {_local(f)}) AS time, device,
            avg({reading}) AS mean, min({reading}) AS min, max({reading}) AS max, count(*) AS readings
        FROM sensor WHERE {w} AND ts IS NOT NULL GROUP BY ALL ORDER BY device, time""",
        a,
    )


def gender_counts(con, f: AnalyticsFilter) -> pd.DataFrame:
    """``gender`` (None = not available) and ``faces``, largest first."""
    w, a = _where("analysis", f)
    return _df(
        con, f"SELECT gender, count(*) AS faces FROM analysis WHERE {w} GROUP BY ALL ORDER BY faces DESC, gender", a
    )


def age_distribution(con, f: AnalyticsFilter) -> pd.DataFrame:
    """Faces per decade of the estimated age (middle of AgeRange); ``decade`` None = not available."""
    w, a = _where("analysis", f)
    return _df(
        con,
        f"""SELECT CAST(floor((age_low + age_high) / 20.0) * 10 AS INTEGER) AS decade, count(*) AS faces
        FROM analysis WHERE {w} GROUP BY ALL ORDER BY decade NULLS LAST""",
        a,
    )


def emotion_mix(con, f: AnalyticsFilter) -> tuple[str, pd.DataFrame]:
    """``("emotion", counts)`` when records carry an Emotion; otherwise ``("smile", counts of
    Smile true/false/None)`` — the only expression the course's analysis record has."""
    w, a = _where("analysis", f)
    emotions = _df(
        con,
        f"SELECT emotion AS label, count(*) AS faces FROM analysis WHERE {w} AND emotion IS NOT NULL "
        "GROUP BY ALL ORDER BY faces DESC",
        a,
    )
    if len(emotions):
        return "emotion", emotions
    return "smile", _df(
        con, f"SELECT smile AS label, count(*) AS faces FROM analysis WHERE {w} GROUP BY ALL ORDER BY faces DESC", a
    )


def _captures(f: AnalyticsFilter) -> tuple[str, list]:
    """One row per capture (auth records of one PictureName), identified if any matched."""
    w, a = _where("auth", f)
    return (
        f"""SELECT coalesce(picture, 'seq:' || seq) cap, min(ts) ts, any_value(device) device,
                   bool_or(coalesce(result, FALSE)) ok FROM auth WHERE {w} AND ts IS NOT NULL GROUP BY cap""",
        a,
    )


def identification_by_day(con, f: AnalyticsFilter) -> pd.DataFrame:
    """Per day: captures, identified, unknown, success_rate and unknown_rate (0-1)."""
    caps, a = _captures(f)
    return _df(
        con,
        f"""SELECT date_trunc('day', {_local(f)}) AS day, count(*) AS captures,
            count(*) FILTER (WHERE ok) AS identified, count(*) FILTER (WHERE NOT ok) AS unknown,
            identified / captures AS success_rate, unknown / captures AS unknown_rate
        FROM ({caps}) GROUP BY ALL ORDER BY day""",
        a,
    )


def people_per_day(con, f: AnalyticsFilter) -> pd.DataFrame:
    """Per day: how many different registered people were identified."""
    w, a = _where("auth", f)
    return _df(
        con,
        f"""SELECT date_trunc('day', {_local(f)}) AS day, count(DISTINCT person) AS people
        FROM auth WHERE {w} AND result AND ts IS NOT NULL GROUP BY ALL ORDER BY day""",
        a,
    )


def weekday_hour(con, f: AnalyticsFilter) -> pd.DataFrame:
    """Captures per weekday (0 = Monday) and hour of day (0-23)."""
    caps, a = _captures(f)
    return _df(
        con,
        f"""SELECT isodow({_local(f)}) - 1 AS weekday, hour({_local(f)}) AS hour, count(*) AS captures
        FROM ({caps}) GROUP BY ALL ORDER BY weekday, hour""",
        a,
    )


def device_comparison(con, f: AnalyticsFilter) -> pd.DataFrame:
    """Per device: captures, success_rate, door_opens, sensor_readings, sensor_mean."""
    caps, a = _captures(f)
    wd, ad = _where("door", f)
    ws, as_ = _where("sensor", f)
    return _df(
        con,
        f"""
        WITH c AS (SELECT device, count(*) captures, avg(ok::INTEGER) success_rate FROM ({caps}) GROUP BY device),
             d AS (SELECT device, count(*) door_opens FROM door WHERE {wd} GROUP BY device),
             s AS (SELECT device, count(*) sensor_readings, avg(value) sensor_mean FROM sensor WHERE {ws}
                   GROUP BY device)
        SELECT device, coalesce(captures, 0) AS captures, success_rate, coalesce(door_opens, 0) AS door_opens,
               coalesce(sensor_readings, 0) AS sensor_readings, sensor_mean
        FROM c FULL JOIN d USING (device) FULL JOIN s USING (device)
        WHERE device IS NOT NULL ORDER BY device""",
        a + ad + as_,
    )


def auth_history(con, f: AnalyticsFilter, limit: int = 1000) -> tuple[int, pd.DataFrame]:
    """(how many match, the newest ``limit`` auth records: time, device, result, person, picture)."""
    w, a = _where("auth", f)
    total = con.execute(f"SELECT count(*) FROM auth WHERE {w}", a).fetchone()[0]
    rows = _df(
        con,
        f"""SELECT {_local(f)} AS time, device, result, person, picture FROM auth WHERE {w}
        ORDER BY ts DESC NULLS LAST, seq DESC LIMIT {int(limit)}""",
        a,
    )
    return total, rows


def door_history(con, f: AnalyticsFilter, limit: int = 1000) -> tuple[int, pd.DataFrame]:
    """(how many match, the newest ``limit`` door-open records: time, device, person)."""
    w, a = _where("door", f)
    total = con.execute(f"SELECT count(*) FROM door WHERE {w}", a).fetchone()[0]
    rows = _df(
        con,
        f"""SELECT {_local(f)} AS time, device, person FROM door WHERE {w}
        ORDER BY ts DESC NULLS LAST, seq DESC LIMIT {int(limit)}""",
        a,
    )
    return total, rows


CHARTS = (
    "kpis",
    "sensor",
    "gender",
    "age",
    "emotion",
    "identification",
    "people",
    "heatmap",
    "devices",
    "auth_history",
    "door_history",
)


# The analytics page's sections and the charts each one draws (only the open one is queried).
SECTIONS = {
    "kpis": ("kpis",),
    "sensor": ("sensor",),
    "faces": ("gender", "age", "emotion"),
    "identification": ("identification", "people", "heatmap"),
    "devices": ("devices",),
    "history": ("auth_history", "door_history"),
}


def chart_data(
    con,
    f: AnalyticsFilter,
    bucket: str | None = None,
    history_limit: int = 1000,
    timings: dict | None = None,
    charts=None,
) -> dict:
    """The data of ``charts`` (names from CHARTS; default every chart) for ``f`` from one
    connection. ``timings`` (if given) receives the seconds each chart's query took."""

    out = {}
    steps = {
        "kpis": lambda: kpis(con, f),
        "sensor": lambda: sensor_series(con, f, bucket or pick_bucket(f)),
        "gender": lambda: gender_counts(con, f),
        "age": lambda: age_distribution(con, f),
        "emotion": lambda: emotion_mix(con, f),
        "identification": lambda: identification_by_day(con, f),
        "people": lambda: people_per_day(con, f),
        "heatmap": lambda: weekday_hour(con, f),
        "devices": lambda: device_comparison(con, f),
        "auth_history": lambda: auth_history(con, f, history_limit),
        "door_history": lambda: door_history(con, f, history_limit),
    }
    for name, step in steps.items():
        if charts is not None and name not in charts:
            continue
        started = time.perf_counter()
        out[name] = step()
        if timings is not None:
            timings[name] = time.perf_counter() - started
    return out


def history_csv(con, kind: str, f: AnalyticsFilter) -> bytes:
    """Every auth or door-open record matching ``f`` as CSV (UTF-8 with BOM so that Excel
    reads Japanese names), newest first, times in the display time zone. Text a spreadsheet
    would run as a formula (a device-supplied ``=HYPERLINK(...)``) starts with ``'``
    (``core.analytics.spreadsheet``)."""
    if kind == "auth":
        _, rows = auth_history(con, f, limit=10_000_000)
    elif kind == "door":
        _, rows = door_history(con, f, limit=10_000_000)
    else:
        raise InvalidParameter(f"history is kept for auth and door logs, not {kind!r}")
    # CRLF rows (RFC 4180): the writer then quotes a cell holding a bare CR, which a reader
    # would otherwise take for the end of the row.
    return inert_frame(rows).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


_FIRST_DAY, _LAST_DAY = date(1, 1, 3), date(9999, 12, 29)


def filter_for_days(first_day, last_day, utc_offset_minutes: int = 0, devices=(), people=()) -> AnalyticsFilter:
    """A filter for whole local days ``first_day``..``last_day`` (dates, inclusive) in the
    time zone ``utc_offset_minutes`` east of UTC."""
    offset = timedelta(minutes=utc_offset_minutes)
    # Dates at the ends of the calendar (a date picker allows year 1 to 9999) are clamped to
    # what one day and the zone offset either side can still be added to.
    first_day = min(max(first_day, _FIRST_DAY), _LAST_DAY)
    last_day = min(max(last_day, _FIRST_DAY), _LAST_DAY)
    since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - offset
    until = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1) - offset
    return AnalyticsFilter(
        since=since, until=until, devices=tuple(devices), people=tuple(people), utc_offset_minutes=utc_offset_minutes
    )
