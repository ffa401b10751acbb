"""The analytics and QuickSight pages (AppTest): the figures' JSON must carry the data."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.analytics.conftest import fill

ROOT = Path(__file__).resolve().parents[2]


def run_page(name: str, lang: str = "en") -> AppTest:
    import streamlit as st

    st.cache_data.clear()  # every test has its own data dir; never reuse another test's charts
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def _plain(value):
    """Plotly sends numeric arrays as {"dtype", "bdata"} (base64); decode them to lists."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def figures(at) -> dict[str, dict]:
    """chart key -> plotly figure JSON as sent to the browser (typed arrays decoded)."""
    return {c.key: _plain(json.loads(c.proto.spec)) for c in at.get("plotly_chart")}


def texts(at) -> str:
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


@pytest.fixture
def filled(services):
    fill(services.events)
    return services


def test_empty_store_says_what_to_do_and_draws_nothing(services):
    at = run_page("analytics")
    assert figures(at) == {}
    assert "No logs yet" in texts(at) and "demo-data" in texts(at)


def open_tab(at, label: str) -> dict[str, dict]:
    """Open a tab (only the open one is queried and drawn) and return the figures shown."""
    at.session_state["analytics_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return figures(at)


def test_filled_store_charts_reflect_the_data(filled):
    at = run_page("analytics")
    figs = figures(at)
    assert set(figs) == {"chart_sensor", "chart_gender", "chart_age", "chart_emotion"}  # the first tab only
    pie = figs["chart_gender"]["data"][0]
    assert dict(zip(pie["labels"], pie["values"], strict=True)) == {"Male": 2, "Female": 2, "not available": 1}
    smile = figs["chart_emotion"]["data"][0]
    assert dict(zip(smile["labels"], smile["values"], strict=True)) == {
        "Smiling": 2,
        "Not smiling": 2,
        "not available": 1,
    }
    assert "no emotions" in texts(at)  # said plainly, not hidden
    age = figs["chart_age"]["data"][0]
    assert age["x"] == ["20s", "30s", "40s", "not available"] and age["y"] == [2, 1, 1, 1]
    # The default range is 4 days (up to the day after the newest event), so "auto" is hourly.
    lines = {t["name"]: t for t in figs["chart_sensor"]["data"] if t.get("mode") == "lines"}
    assert {name: t["y"] for name, t in lines.items()} == {"id001": [2.5, 8.5], "id002": [5.0]}
    assert [x[11:16] for x in lines["id001"]["x"]] == ["09:00", "10:00"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Captures"] == "5" and metrics["Unknown faces"] == "2" and metrics["Door opens"] == "2"

    figs = open_tab(at, "Identification")
    assert set(figs) == {"chart_sensor", "chart_success", "chart_captures", "chart_people", "chart_heatmap"}
    success = figs["chart_success"]["data"][0]
    assert [x[:10] for x in success["x"]] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert success["y"] == [100.0, 50.0, 0.0]
    assert figs["chart_people"]["data"][0]["y"] == [2, 1]
    heat = figs["chart_heatmap"]["data"][0]
    assert heat["z"][0][9] == 1 and heat["z"][0][10] == 1 and heat["z"][1][11] == 1
    assert sum(map(sum, heat["z"])) == 5

    figs = open_tab(at, "Devices")
    bars = figs["chart_devices"]["data"]
    assert bars[0]["x"] == ["id001", "id002"] and bars[0]["y"] == [3, 2] and bars[1]["y"] == [1, 1]
    assert len(at.get("dataframe")) == 1

    open_tab(at, "History")
    assert len(at.get("dataframe")) == 2 and len(at.get("download_button")) == 2
    assert "Newest 6 of 6" in texts(at) and "Newest 2 of 2" in texts(at)


def test_filters_apply_across_charts_and_resolution_changes_buckets(filled):
    at = run_page("analytics")
    at.multiselect(key="analytics_devices").set_value(["id002"]).run()
    figs = figures(at)
    assert {m.label: m.value for m in at.metric}["Captures"] == "2"
    assert [t["name"] for t in figs["chart_sensor"]["data"] if t.get("mode") == "lines"] == ["id002"]
    assert sum(figs["chart_gender"]["data"][0]["values"]) == 4  # analysis without DeviceID stays
    assert "do not narrow the face charts" in texts(at)
    assert open_tab(at, "Devices")["chart_devices"]["data"][0]["x"] == ["id002"]
    at.session_state["analytics_tab"] = "Faces"

    at.multiselect(key="analytics_devices").set_value([]).run()
    at.multiselect(key="analytics_people").set_value(["__unknown__"]).run()
    assert {m.label: m.value for m in at.metric}["Captures"] == "2"
    assert {m.label: m.value for m in at.metric}["Unknown faces"] == "2"

    at.multiselect(key="analytics_people").set_value([]).run()
    at.segmented_control(key="analytics_bucket").set_value("day").run()
    lines = {t["name"]: t for t in figures(at)["chart_sensor"]["data"] if t.get("mode") == "lines"}
    assert [x[:10] for x in lines["id001"]["x"]] == ["2026-11-02"] and lines["id001"]["y"] == [5.5]
    # Per minute over 4 days would be 5,760 points per device: drawn per hour, and said so.
    at.segmented_control(key="analytics_bucket").set_value("minute").run()
    lines = {t["name"]: t for t in figures(at)["chart_sensor"]["data"] if t.get("mode") == "lines"}
    assert len(lines["id001"]["x"]) == 2 and "Too many points" in texts(at)
    at.date_input(key="analytics_dates").set_value((date(2026, 11, 2), date(2026, 11, 2))).run()
    lines = {t["name"]: t for t in figures(at)["chart_sensor"]["data"] if t.get("mode") == "lines"}
    assert len(lines["id001"]["x"]) == 12 and len(lines["id002"]["x"]) == 3
    assert {m.label: m.value for m in at.metric}["Captures"] == "2"  # the date range narrows the rest too


def test_japanese_labels(filled):
    at = run_page("analytics", lang="ja")
    pie = figures(at)["chart_gender"]["data"][0]
    assert set(pie["labels"]) == {"男性", "女性", "取得できません"}
    assert at.title[0].value == "分析"


def test_quicksight_page_local_world_never_errors(services, monkeypatch):
    at = run_page("quicksight")
    assert "No QuickSight dashboards are configured" in texts(at)


def test_quicksight_page_local_lists_what_would_be_embedded(settings, monkeypatch):
    monkeypatch.setenv("FACEGATE_QUICKSIGHT_DASHBOARDS", "dash-1, dash-2")
    at = run_page("quicksight")
    assert "local world has no QuickSight" in texts(at)
    assert "`dash-1`" in texts(at) and "`dash-2`" in texts(at)


def test_quicksight_page_aws_embeds_each_dashboard_and_explains_problems(settings, monkeypatch):
    import boto3
    from botocore.stub import Stubber

    import core.aws.clients
    from core.bootstrap import close_shared_services

    for name, value in {
        "FACEGATE_BACKEND": "aws",
        "FACEGATE_QUICKSIGHT_DASHBOARDS": "dash-ok,dash-denied",
        "FACEGATE_AWS_ACCOUNT_ID": "123456789012",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "FACEGATE_QUICKSIGHT_USER_ARN": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/v",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("quicksight", region_name="ap-northeast-1")
    stub = Stubber(client)
    stub.add_response(
        "generate_embed_url_for_registered_user",
        {"EmbedUrl": "https://quicksight.example/embed/ok", "Status": 200, "RequestId": "r1"},
        {
            "AwsAccountId": "123456789012",
            "SessionLifetimeInMinutes": 60,
            "UserArn": "arn:aws:quicksight:ap-northeast-1:123456789012:user/default/v",
            "ExperienceConfiguration": {"Dashboard": {"InitialDashboardId": "dash-ok"}},
        },
    )
    stub.add_client_error(
        "generate_embed_url_for_registered_user",
        service_error_code="AccessDeniedException",
        service_message="not authorized",
        http_status_code=403,
    )
    real = core.aws.clients.aws_client
    monkeypatch.setattr(
        core.aws.clients,
        "aws_client",
        lambda service, region, session=None, **kw: (
            client if service == "quicksight" else real(service, region, session, **kw)
        ),
    )
    close_shared_services()  # services for the aws settings, built with the stubbed client
    with stub:
        at = run_page("quicksight")
    stub.assert_no_pending_responses()
    frames = [e for e in at.get("iframe")] or [e for e in at.get("components_iframe")]
    page_text = texts(at)
    assert "Not allowed" in page_text and "quicksight:GenerateEmbedUrlForRegisteredUser" in page_text
    assert any("quicksight.example/embed/ok" in str(f.proto) for f in frames), at
    close_shared_services()


def test_pages_open_through_the_real_router(filled, admin):
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "tests" / "app" / "router_entry.py"), default_timeout=90)
    at.session_state["facegate_session"] = admin.token  # admin pages (auth and door logs name people)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(str(ROOT / "pages" / "analytics.py")).run()
    assert not at.exception, at.exception
    assert at.title[-1].value == "分析" and len(figures(at)) == 4
    at.switch_page(str(ROOT / "pages" / "quicksight.py")).run()
    assert not at.exception, at.exception
    assert "QuickSight のダッシュボードは設定されていません" in texts(at)
