"""QuickSight dashboards to embed: ``build_quicksight(settings)`` picks the world's adapter."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigError
from core.quicksight.local import LocalQuickSight
from core.quicksight.port import DashboardEmbed, QuickSightDashboards, dashboard_ids

__all__ = ["DashboardEmbed", "QuickSightDashboards", "build_quicksight", "dashboard_ids"]


def build_quicksight(settings: Settings, session=None) -> QuickSightDashboards:
    """The local listing, or the aws embedder (its client is created on first use)."""
    if settings.backend != "aws":
        return LocalQuickSight(settings.quicksight_dashboards)
    from core.aws.clients import aws_client  # noqa: PLC0415 (each world imports only its adapter (boto3 in aws))
    from core.quicksight.aws import AwsQuickSight  # noqa: PLC0415 (each world imports only its adapter (boto3 in aws))

    return AwsQuickSight(
        lambda: aws_client("quicksight", settings.region, session),
        dashboards=settings.quicksight_dashboards,
        account_id=settings.aws_account_id,
        region=settings.region,
        user_arn=settings.quicksight_user_arn,
        anonymous=settings.quicksight_anonymous,
        allowed_domains=allowed_domains(settings.quicksight_allowed_domains),
    )


def allowed_domains(raw: str) -> list[str]:
    """``settings.quicksight_allowed_domains`` ("https://a:8501, https://b") as a list.
    Raises ConfigError for an entry that is not an https origin (QuickSight embeds only into
    https pages; http is allowed for localhost only)."""

    out = []
    for part in (raw or "").split(","):
        part = part.strip().rstrip("/")
        if not part:
            continue
        local = part.startswith(("http://localhost", "http://127.0.0.1"))
        if not (part.startswith("https://") or local) or " " in part:
            raise ConfigError(
                f"FACEGATE_QUICKSIGHT_ALLOWED_DOMAINS: {part!r} is not an https origin (e.g. https://192.168.1.20:8501)"
            )
        if part not in out:
            out.append(part)
    return out
