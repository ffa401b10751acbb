"""The local world has no QuickSight: list what the aws world would embed, and point to the
native analytics page, which draws the same charts from the local store."""

from __future__ import annotations

from core.quicksight.port import DashboardEmbed, QuickSightDashboards, dashboard_ids


class LocalQuickSight(QuickSightDashboards):
    def __init__(self, dashboards: str = ""):
        self._ids = dashboard_ids(dashboards)

    def configured(self):
        return list(self._ids)

    def embed(self, dashboard_id):
        return DashboardEmbed(
            dashboard_id,
            problem_code="local_world",
            problem="QuickSight is an AWS service; in the local world this dashboard is not "
            "embedded. The Analytics page shows the same charts from the local store.",
        )
