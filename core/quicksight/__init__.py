"""QuickSight dashboards to embed: ``build_quicksight(settings)`` picks the world's adapter."""

from __future__ import annotations

from core.config import Settings
from core.quicksight.port import DashboardEmbed, QuickSightDashboards, dashboard_ids

__all__ = ["DashboardEmbed", "QuickSightDashboards", "build_quicksight", "dashboard_ids"]


def build_quicksight(settings: Settings, session=None) -> QuickSightDashboards:
    """The local listing, or the aws embedder (its client is created on first use)."""
    if settings.backend != "aws":
        from core.quicksight.local import LocalQuickSight

        return LocalQuickSight(settings.quicksight_dashboards)
    from core.aws.clients import aws_client
    from core.quicksight.aws import AwsQuickSight

    return AwsQuickSight(
        lambda: aws_client("quicksight", settings.region, session),
        dashboards=settings.quicksight_dashboards,
        account_id=settings.aws_account_id,
        region=settings.region,
        user_arn=settings.quicksight_user_arn,
        anonymous=settings.quicksight_anonymous,
    )
