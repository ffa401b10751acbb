"""QuickSight embedding port: which dashboards are configured and a fresh embed URL for each.

An embed URL works once and only for five minutes after it is generated (AWS's rule); the
session it opens lasts ``SessionLifetimeInMinutes``. ``DashboardEmbed.expired`` says when a
URL must be renewed before it is put into a page again.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

URL_VALIDITY = timedelta(minutes=5)


@dataclass(frozen=True)
class DashboardEmbed:
    """One configured dashboard: an ``url`` to embed, or a ``problem`` in plain words
    (``problem_code`` names it for the UI's translations: not_configured, local_world,
    no_user, no_account, access_denied, no_subscription, enterprise_needed, pricing_plan,
    user_not_found, not_found, throttled, unavailable)."""

    dashboard_id: str
    url: str | None = None
    generated_at: datetime | None = None
    problem_code: str | None = None
    problem: str | None = None
    details: dict = field(default_factory=dict)

    def expired(self, now: datetime | None = None) -> bool:
        """True when ``url`` can no longer be opened (or there is none)."""
        if not self.url or not self.generated_at:
            return True
        return (now or datetime.now(UTC)) >= self.generated_at + URL_VALIDITY


def dashboard_ids(raw: str) -> list[str]:
    """``settings.quicksight_dashboards`` ("id1, id2") as a list, blanks and repeats dropped."""
    out = []
    for part in (raw or "").split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


class QuickSightDashboards(abc.ABC):
    @abc.abstractmethod
    def configured(self) -> list[str]:
        """The dashboard ids to show (may be empty; never raises)."""

    @abc.abstractmethod
    def embed(self, dashboard_id: str) -> DashboardEmbed:
        """A newly generated embed for ``dashboard_id``; problems come back in the result,
        never as an exception (the page explains them)."""

    def embeds(self) -> list[DashboardEmbed]:
        return [self.embed(d) for d in self.configured()]

    def renew(self, embed: DashboardEmbed, now: datetime | None = None) -> DashboardEmbed:
        """``embed`` itself while its URL is still usable, else a newly generated one."""
        return self.embed(embed.dashboard_id) if embed.expired(now) else embed
