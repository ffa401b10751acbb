"""``python -m core demo-data``: realistic events through the EventStore port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.analytics import queries as Q
from core.events.demo import generate_demo_events
from core.events.local import LocalEventStore

ROOT = Path(__file__).resolve().parents[2]


def test_cli_fills_the_local_world(tmp_path):
    env = {
        **os.environ,
        "FACEGATE_DATA_DIR": str(tmp_path / "data"),
        "FACEGATE_SECRETS_FILE": str(tmp_path / "none.toml"),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-m", "core", "demo-data", "--events", "5000", "--days", "3", "--seed", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert 4500 <= result["total"] <= 5500
    store = LocalEventStore(tmp_path / "data" / "events" / "events.db")
    assert {k: store.count(k) for k in ("auth", "analysis", "door", "sensor")} == result["stored"]
    bad = subprocess.run(
        [sys.executable, "-m", "core", "demo-data", "--events", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "InvalidParameterException" in bad.stderr


def test_demo_events_are_realistic(tmp_path):
    store = LocalEventStore(tmp_path / "events.db")
    end = datetime(2026, 11, 25, 12, tzinfo=UTC)
    counts = generate_demo_events(store, 20_000, days=7, devices=3, seed=1, end=end, utc_offset_minutes=540)
    assert counts["sensor"] > counts["auth"] > counts["door"] > 0 and counts["analysis"] == counts["auth"]
    con = store.columnar()
    options = Q.filter_options(con)
    assert options["devices"] == ["id001", "id002", "id003"]
    assert len(options["people"]) == 8
    assert end - timedelta(days=7) <= options["first"] and options["last"] <= end
    k = Q.kpis(con, Q.AnalyticsFilter())
    assert 0.7 < k["identified"] / k["captures"] < 0.9  # some unknown visitors
    assert k["door_opens"] <= k["identified"]
    # Office hours (in Japan here) dominate the heat map; the last device also streams motion axes.
    heat = Q.weekday_hour(con, Q.AnalyticsFilter(utc_offset_minutes=540))
    day = heat[(heat["hour"] >= 8) & (heat["hour"] < 18)]["captures"].sum()
    assert day > heat["captures"].sum() * 0.6
    assert store.query("sensor", device="id003", limit=1)["AccelZ"].notna().all()
    assert "AccelZ" not in store.query("sensor", device="id001", limit=1)
