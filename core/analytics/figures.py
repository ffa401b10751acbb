"""Plotly figures for the analytics page, built from ``core.analytics.queries`` results.

Each builder returns a ``go.Figure``, or ``None`` when there is nothing to draw (the page then
shows an empty state that says what to do). Labels come from ``core.app.i18n``; layouts are
compact with the legend below the plot so that a 390 px wide phone shows them whole.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.app.i18n import register, t

register(
    {
        "chart.reading": ("センサー値", "Reading"),
        "chart.readings": ("件数", "Readings"),
        "chart.mean": ("平均", "mean"),
        "chart.range": ("最小〜最大", "min–max"),
        "chart.faces": ("顔の数", "Faces"),
        "chart.gender.Male": ("男性", "Male"),
        "chart.gender.Female": ("女性", "Female"),
        "chart.not_available": ("取得できません", "not available"),
        "chart.age": ("推定年齢", "Estimated age"),
        "chart.age_decade": ("{decade} 代", "{decade}s"),
        "chart.smile.true": ("笑顔", "Smiling"),
        "chart.smile.false": ("笑顔でない", "Not smiling"),
        "chart.success_rate": ("識別成功率", "Identified"),
        "chart.unknown_rate": ("不明な顔の割合", "Unknown faces"),
        "chart.captures": ("撮影数", "Captures"),
        "chart.unknown": ("不明な顔", "Unknown faces"),
        "chart.people": ("人数", "People"),
        "chart.weekday": ("曜日", "Weekday"),
        "chart.hour": ("時", "Hour"),
        "chart.weekdays": ("月,火,水,木,金,土,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
        "chart.door_opens": ("ドア開", "Door opens"),
        "chart.sensor_readings": ("センサー件数", "Sensor readings"),
    }
)

_LAYOUT = dict(
    margin=dict(l=8, r=8, t=8, b=8),
    height=320,
    legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
)


def _fig(*traces, **layout) -> go.Figure:
    fig = go.Figure(list(traces))
    fig.update_layout(**{**_LAYOUT, **layout})
    return fig


def sensor_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """One mean line per device, with a min–max band when buckets hold several readings."""
    if frame is None or frame.empty:
        return None
    traces = []
    for device, part in frame.groupby("device", sort=True):
        if (part["readings"] > 1).any():
            traces.append(
                go.Scatter(
                    x=list(part["time"]) + list(part["time"])[::-1],
                    y=list(part["max"]) + list(part["min"])[::-1],
                    fill="toself",
                    line=dict(width=0),
                    opacity=0.2,
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{device} {t('chart.range', lang)}",
                    legendgroup=str(device),
                )
            )
        traces.append(
            go.Scatter(
                x=part["time"],
                y=part["mean"].round(2),
                mode="lines",
                name=str(device),
                legendgroup=str(device),
                customdata=part["readings"],
                hovertemplate="%{x}<br>%{y}<br>n=%{customdata}<extra>" + str(device) + "</extra>",
            )
        )
    # No x-axis title on time axes: the dates say it, and on a phone the title collides with the legend.
    return _fig(*traces, yaxis_title=t("chart.reading", lang))


def gender_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """The course's pie of gender counts; records without a gender show as "not available"."""
    if frame is None or frame.empty:
        return None
    labels = [
        t(f"chart.gender.{g}", lang) if isinstance(g, str) else t("chart.not_available", lang) for g in frame["gender"]
    ]
    return _fig(go.Pie(labels=labels, values=frame["faces"].tolist(), sort=False, hole=0.3, textinfo="label+percent"))


def age_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    if frame is None or frame.empty:
        return None
    labels = [
        t("chart.age_decade", lang, decade=int(d)) if pd.notna(d) else t("chart.not_available", lang)
        for d in frame["decade"]
    ]
    return _fig(
        go.Bar(x=labels, y=frame["faces"].tolist(), name=t("chart.faces", lang)),
        xaxis_title=t("chart.age", lang),
        yaxis_title=t("chart.faces", lang),
    )


def emotion_figure(source: str, frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """Emotions when recorded; else the smile split (the course's record has no emotion)."""
    if frame is None or frame.empty:
        return None
    if source == "emotion":
        labels = [str(v) for v in frame["label"]]
    else:
        labels = [
            t("chart.not_available", lang) if pd.isna(v) else t("chart.smile.true" if v else "chart.smile.false", lang)
            for v in frame["label"]
        ]
    return _fig(go.Pie(labels=labels, values=frame["faces"].tolist(), sort=False, textinfo="label+percent"))


def identification_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """Identified share and unknown share of captures per day (0–100 %)."""
    if frame is None or frame.empty:
        return None
    return _fig(
        go.Scatter(
            x=frame["day"],
            y=(frame["success_rate"] * 100).round(1),
            mode="lines+markers",
            name=t("chart.success_rate", lang),
            customdata=frame["captures"],
            hovertemplate="%{x|%Y-%m-%d}<br>%{y}%<br>n=%{customdata}<extra></extra>",
        ),
        go.Scatter(
            x=frame["day"],
            y=(frame["unknown_rate"] * 100).round(1),
            mode="lines+markers",
            name=t("chart.unknown_rate", lang),
            customdata=frame["unknown"],
            hovertemplate="%{x|%Y-%m-%d}<br>%{y}%<br>n=%{customdata}<extra></extra>",
        ),
        yaxis=dict(title="%", range=[0, 100]),
    )


def captures_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """Stacked bars of identified and unknown captures per day."""
    if frame is None or frame.empty:
        return None
    return _fig(
        go.Bar(x=frame["day"], y=frame["identified"].tolist(), name=t("chart.success_rate", lang)),
        go.Bar(x=frame["day"], y=frame["unknown"].tolist(), name=t("chart.unknown", lang)),
        barmode="stack",
        yaxis_title=t("chart.captures", lang),
    )


def people_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    if frame is None or frame.empty:
        return None
    return _fig(
        go.Bar(x=frame["day"], y=frame["people"].tolist(), name=t("chart.people", lang)),
        yaxis_title=t("chart.people", lang),
    )


def heatmap_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """Captures by weekday (rows, Monday first) and hour of day (columns, 0–23)."""
    if frame is None or frame.empty:
        return None
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, captures in frame[["weekday", "hour", "captures"]].itertuples(index=False):
        grid[int(weekday)][int(hour)] = int(captures)
    days = t("chart.weekdays", lang).split(",")
    return _fig(
        go.Heatmap(
            z=grid, x=list(range(24)), y=days, colorscale="Blues", hovertemplate="%{y} %{x}:00<br>%{z}<extra></extra>"
        ),
        xaxis=dict(title=t("chart.hour", lang), dtick=3),
        yaxis=dict(autorange="reversed"),
    )


def devices_figure(frame: pd.DataFrame, lang: str) -> go.Figure | None:
    """Captures and door opens per device, grouped bars."""
    if frame is None or frame.empty:
        return None
    devices = frame["device"].astype(str).tolist()
    return _fig(
        go.Bar(x=devices, y=frame["captures"].tolist(), name=t("chart.captures", lang)),
        go.Bar(x=devices, y=frame["door_opens"].tolist(), name=t("chart.door_opens", lang)),
        barmode="group",
    )
