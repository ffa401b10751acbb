"""Times as a viewer reads them: in the browser's zone, with the zone written beside them.

The browser tells Streamlit its IANA zone (``st.context.timezone``); without a browser (tests,
bare mode) the viewer's zone is ``FACEGATE_TIMEZONE`` (default: this machine's zone). Every
formatter here survives the times devices send — year 9999, year 1, nonsense — and never
raises: a page shows what it can.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import zone_info


def viewer_zone(browser_zone: str | None, fallback: str = "") -> tzinfo:
    """``browser_zone`` (an IANA name such as ``Asia/Tokyo``) when it is one, else the zone
    ``fallback`` names (``FACEGATE_TIMEZONE``; empty = this machine's)."""
    if browser_zone:
        try:
            return ZoneInfo(browser_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return zone_info(fallback)


def zone_name(zone: tzinfo) -> str:
    """``Asia/Tokyo`` for a ZoneInfo, else the zone's own name (``UTC``, ``UTC+09:00``)."""
    return getattr(zone, "key", None) or str(zone)


def offset_minutes(zone: tzinfo, at: datetime | None = None) -> int:
    """Minutes east of UTC in ``zone`` at ``at`` (now by default)."""
    offset = (at or datetime.now(UTC)).astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def zone_label(zone: tzinfo, at: datetime | None = None) -> str:
    """``Asia/Tokyo (UTC+09:00)``: the name and the offset now, for a caption."""
    minutes = offset_minutes(zone, at)
    sign = "+" if minutes >= 0 else "-"
    utc = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    name = zone_name(zone)
    return utc if name in (utc, "UTC") and minutes == 0 and name == "UTC" else f"{name} ({utc})"


def local_text(when, zone: tzinfo, *, millis: bool = False) -> str:
    """``2026-04-01 18:00:00 JST`` — ``when`` (an aware datetime, a pandas Timestamp, or ms
    since the epoch) in ``zone`` with its abbreviation; a time that cannot be shown in the
    zone (out of range) is shown in UTC, and an unreadable one as ``?``."""
    try:
        if isinstance(when, (int, float)):
            when = datetime.fromtimestamp(when / 1000, UTC)
        elif hasattr(when, "to_pydatetime"):
            when = when.to_pydatetime()
        if not isinstance(when, datetime):
            return "?"
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            shown = when.astimezone(zone)
        except (OverflowError, ValueError):
            shown = when.astimezone(UTC)
        text = f"{shown.year:04d}-" + shown.strftime("%m-%d %H:%M:%S")  # %Y does not pad year 1
        if millis:
            text += f".{shown.microsecond // 1000:03d}"
        return f"{text} {shown.tzname() or zone_name(shown.tzinfo)}"
    except (OverflowError, ValueError, OSError, TypeError):
        return "?"
