"""QuickSight embed URLs for the aws world: GenerateEmbedUrlForRegisteredUser, or
GenerateEmbedUrlForAnonymousUser when ``settings.quicksight_anonymous`` is on.

Failures are explained in plain words (what is missing and who must change what) instead of
raised, because a missing QuickSight subscription must not break the app.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import botocore.exceptions

from core.quicksight.port import DashboardEmbed, QuickSightDashboards, dashboard_ids

log = logging.getLogger(__name__)
SESSION_MINUTES = 60

# AWS error code -> (problem code, plain words). {op} is the API operation, {id} the dashboard.
_PROBLEMS = {
    "AccessDeniedException": (
        "access_denied",
        "The AWS identity this app runs as may not call quicksight:{op} for dashboard {id}. "
        "Add that action on the dashboard's ARN to its IAM policy.",
    ),
    "ResourceNotFoundException": (
        "not_found",
        "Dashboard {id} does not exist in account {account} ({region}), or it has not "
        "been shared with the embedding user. Check FACEGATE_QUICKSIGHT_DASHBOARDS.",
    ),
    "QuickSightUserNotFoundException": (
        "user_not_found",
        "The QuickSight user {user} is not registered. Register the user in "
        "QuickSight or fix FACEGATE_QUICKSIGHT_USER_ARN.",
    ),
    "UnsupportedUserEditionException": (
        "enterprise_needed",
        "Embedding needs QuickSight Enterprise edition; this account's QuickSight is Standard edition.",
    ),
    "UnsupportedPricingPlanException": (
        "pricing_plan",
        "Anonymous embedding needs QuickSight session capacity pricing. Use a "
        "registered user (FACEGATE_QUICKSIGHT_ANONYMOUS=false) or change the plan.",
    ),
    "ThrottlingException": ("throttled", "QuickSight is throttling requests; try again in a moment."),
    "SessionLifetimeInMinutesInvalidException": ("invalid", "The session lifetime was refused by QuickSight."),
    "InvalidParameterValueException": ("invalid", "QuickSight refused the request: {message}"),
    "InternalFailureException": ("unavailable", "QuickSight had an internal failure; try again later."),
}


class AwsQuickSight(QuickSightDashboards):
    """``client_factory()`` returns a boto3 ``quicksight`` client (built on first use)."""

    def __init__(
        self,
        client_factory,
        *,
        dashboards: str,
        account_id: str,
        region: str,
        user_arn: str = "",
        anonymous: bool = False,
        allowed_domains: list[str] | None = None,
        clock=lambda: datetime.now(UTC),
    ):
        self._factory = client_factory
        self._client = None
        self._ids = dashboard_ids(dashboards)
        self.account_id = account_id
        self.region = region
        self.user_arn = user_arn
        self.anonymous = anonymous
        self.allowed_domains = allowed_domains or []
        self._clock = clock

    def configured(self):
        return list(self._ids)

    def _quicksight(self):
        if self._client is None:
            self._client = self._factory()
        return self._client

    def dashboard_arn(self, dashboard_id: str) -> str:
        return f"arn:aws:quicksight:{self.region}:{self.account_id}:dashboard/{dashboard_id}"

    def embed(self, dashboard_id):
        if not self.account_id:
            return DashboardEmbed(
                dashboard_id,
                problem_code="no_account",
                problem="Set FACEGATE_AWS_ACCOUNT_ID to the AWS account that owns the dashboards.",
            )
        if not self.anonymous and not self.user_arn:
            return DashboardEmbed(
                dashboard_id,
                problem_code="no_user",
                problem="Set FACEGATE_QUICKSIGHT_USER_ARN to the QuickSight user that views the "
                "dashboards, or FACEGATE_QUICKSIGHT_ANONYMOUS=true for anonymous "
                "embedding.",
            )
        experience = {"Dashboard": {"InitialDashboardId": dashboard_id}}
        common = {
            "AwsAccountId": self.account_id,
            "SessionLifetimeInMinutes": SESSION_MINUTES,
            "ExperienceConfiguration": experience,
        }
        if self.allowed_domains:
            common["AllowedDomains"] = self.allowed_domains
        op = "GenerateEmbedUrlForAnonymousUser" if self.anonymous else "GenerateEmbedUrlForRegisteredUser"
        try:
            if self.anonymous:
                response = self._quicksight().generate_embed_url_for_anonymous_user(
                    Namespace="default", AuthorizedResourceArns=[self.dashboard_arn(dashboard_id)], **common
                )
            else:
                response = self._quicksight().generate_embed_url_for_registered_user(UserArn=self.user_arn, **common)
        except botocore.exceptions.ClientError as exc:
            return self._problem(dashboard_id, op, exc)
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            return DashboardEmbed(
                dashboard_id,
                problem_code="access_denied",
                problem="No AWS credentials were found (environment, profile, SSO or role).",
            )
        except botocore.exceptions.BotoCoreError as exc:
            return DashboardEmbed(
                dashboard_id, problem_code="unavailable", problem=f"QuickSight cannot be reached: {exc}"
            )
        return DashboardEmbed(
            dashboard_id,
            url=response["EmbedUrl"],
            generated_at=self._clock(),
            details={"operation": op, "request_id": response.get("RequestId")},
        )

    def _problem(self, dashboard_id: str, op: str, exc: botocore.exceptions.ClientError) -> DashboardEmbed:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        lowered = message.lower()
        if "not signed up" in lowered or "subscription" in lowered or "does not have quicksight" in lowered:
            problem_code = "no_subscription"
            text = (
                f"Account {self.account_id} has no QuickSight subscription in {self.region}. Sign up for "
                "QuickSight (Enterprise edition for embedding) in the AWS console first."
            )
        else:
            problem_code, template = _PROBLEMS.get(code, ("unavailable", "QuickSight answered {code}: {message}"))
            text = template.format(
                op=op,
                id=dashboard_id,
                account=self.account_id,
                region=self.region,
                user=self.user_arn,
                code=code,
                message=message,
            )
        log.warning("QuickSight %s for %s failed: %s", op, dashboard_id, code)
        return DashboardEmbed(
            dashboard_id, problem_code=problem_code, problem=text, details={"operation": op, "aws_error": code}
        )
