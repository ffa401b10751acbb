"""The logs page's live sensor view (issue 17 §13): the last minutes at the readings' own
resolution — 12 s of phone data at 10 Hz is 120 points, not one dot of a one-minute bucket."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa

from tests.app.conftest import open_page, texts


def _chart_points(at) -> pd.DataFrame:
    """The data of the page's line chart (a Vega-Lite chart: its dataset is Arrow IPC)."""
    charts = [e for e in at.get("vega_lite_chart")]
    assert charts, "no chart on the page"
    data = charts[-1].proto.datasets[0].data.data
    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pandas()


def test_a_viewer_sees_the_last_minutes_reading_by_reading(viewer_app, services):
    from core.telemetry.phone import sensor_records_from_readings

    start = datetime.now(UTC) - timedelta(seconds=20)
    readings = [
        {"t": (start + timedelta(milliseconds=100 * i)).timestamp() * 1000, "value": 9.8 + (i % 7) / 10, "x": 0.1}
        for i in range(120)
    ]
    for batch in range(0, 120, 40):  # the component hands over a batch every few hundred ms
        records = sensor_records_from_readings(
            "phone-7", {"readings": readings[batch : batch + 40]}, now=datetime.now(UTC)
        )
        services.publisher.publish_many("sensor", records)
    old = sensor_records_from_readings(
        "phone-7", {"readings": [{"value": 1.0}]}, now=datetime.now(UTC) - timedelta(minutes=30)
    )
    services.publisher.publish_many("sensor", old)  # outside the window

    at = open_page(viewer_app, "logs")
    points = _chart_points(at)
    values = points[points["series"] == "phone-7 · Value"]
    assert len(values) == 120  # every reading, none bucketed, none from 30 minutes ago
    assert values["time"].diff().dropna().min() < pd.Timedelta(seconds=1)
    assert "120 件 · 端末 1 台 · 最新" in texts(at)
