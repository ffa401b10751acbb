"""The deployed Web API's quota left (API Gateway usage plan: the course's 2,000 a month).

The app spends one request per photo (``core.usecases.capture``); the settings page shows what
is left so nobody learns it from a 429. Read with ``GetUsagePlan`` + ``GetUsage`` on the plan and
key ``deploy up`` recorded (``apigateway:GET`` on ``/usageplans/*`` in deploy/app-policy.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.aws.clients import aws_client, aws_errors


@dataclass(frozen=True)
class ApiQuota:
    limit: int  # requests per period
    used: int  # this period so far
    remaining: int
    period: str  # DAY, WEEK or MONTH (API Gateway's)
    resets: date  # first day (UTC) of the next period


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """(first day of the current period, first day of the next) in UTC, as API Gateway counts."""
    if period == "DAY":
        return today, today + timedelta(days=1)
    if period == "WEEK":  # API Gateway's weeks start on Monday
        start = today - timedelta(days=today.weekday())
        return start, start + timedelta(days=7)
    start = today.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def api_quota(settings, client=None, today: date | None = None) -> ApiQuota | None:
    """The quota left for the app's API key, or None outside the aws world, when ``deploy up``
    recorded no usage plan, or when the plan has no quota. Raises the ``core.errors`` class of
    a refused call (e.g. AccessDenied without apigateway:GET)."""
    if settings.backend != "aws" or not (settings.usage_plan_id and settings.api_key_id):
        return None
    client = client or aws_client("apigateway", settings.region)
    today = today or datetime.now(UTC).date()
    with aws_errors():
        quota = client.get_usage_plan(usagePlanId=settings.usage_plan_id).get("quota")
        if not quota or not quota.get("limit"):
            return None
        start, resets = period_bounds(quota.get("period", "MONTH"), today)
        usage = client.get_usage(
            usagePlanId=settings.usage_plan_id,
            keyId=settings.api_key_id,
            startDate=start.isoformat(),
            endDate=today.isoformat(),
        )
    limit = int(quota["limit"])
    days = usage.get("items", {}).get(settings.api_key_id, [])  # per day: [used, remaining]
    used = sum(int(day[0]) for day in days)
    remaining = min((int(day[1]) for day in days), default=limit)
    return ApiQuota(limit, used, max(0, remaining), quota.get("period", "MONTH"), resets)
