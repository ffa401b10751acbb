"""QuickSight embedding, every request validated by botocore's Stubber against the service model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from core.quicksight import build_quicksight, dashboard_ids
from core.quicksight.aws import AwsQuickSight
from core.quicksight.local import LocalQuickSight

ACCOUNT = "123456789012"
USER = f"arn:aws:quicksight:ap-northeast-1:{ACCOUNT}:user/default/viewer"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def client():
    c = boto3.client("quicksight", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(c) as stub:
        c.stub = stub
        yield c
        stub.assert_no_pending_responses()


def make(client, **kw) -> AwsQuickSight:
    clock = kw.pop("clock", lambda: NOW)
    options = {
        "dashboards": "dash-1, dash-2",
        "account_id": ACCOUNT,
        "region": "ap-northeast-1",
        "user_arn": USER,
        **kw,
    }
    return AwsQuickSight(lambda: client, clock=clock, **options)


def test_registered_user_embed_url_per_dashboard(client):
    for n in (1, 2):
        client.stub.add_response(
            "generate_embed_url_for_registered_user",
            {"EmbedUrl": f"https://quicksight.example/embed/{n}", "Status": 200, "RequestId": f"r{n}"},
            {
                "AwsAccountId": ACCOUNT,
                "UserArn": USER,
                "SessionLifetimeInMinutes": 60,
                "ExperienceConfiguration": {"Dashboard": {"InitialDashboardId": f"dash-{n}"}},
            },
        )
    embeds = make(client).embeds()
    assert [e.url for e in embeds] == ["https://quicksight.example/embed/1", "https://quicksight.example/embed/2"]
    assert all(e.problem is None and e.generated_at == NOW for e in embeds)


def test_anonymous_embed_names_the_dashboard_arn(client):
    arn = f"arn:aws:quicksight:ap-northeast-1:{ACCOUNT}:dashboard/dash-1"
    client.stub.add_response(
        "generate_embed_url_for_anonymous_user",
        {
            "EmbedUrl": "https://quicksight.example/anon",
            "Status": 200,
            "RequestId": "r",
            "AnonymousUserArn": "arn:aws:quicksight:ap-northeast-1:123456789012:user/anon",
        },
        {
            "AwsAccountId": ACCOUNT,
            "Namespace": "default",
            "AuthorizedResourceArns": [arn],
            "SessionLifetimeInMinutes": 60,
            "ExperienceConfiguration": {"Dashboard": {"InitialDashboardId": "dash-1"}},
        },
    )
    qs = make(client, dashboards="dash-1", user_arn="", anonymous=True)
    assert qs.embed("dash-1").url == "https://quicksight.example/anon"


def test_expired_url_is_renewed_fresh_one_is_kept(client):
    now = [NOW]
    for n in (1, 2):
        client.stub.add_response(
            "generate_embed_url_for_registered_user",
            {"EmbedUrl": f"https://quicksight.example/{n}", "Status": 200, "RequestId": "r"},
        )
    qs = make(client, clock=lambda: now[0])
    first = qs.embed("dash-1")
    assert qs.renew(first, now=NOW + timedelta(minutes=4)) is first
    now[0] = NOW + timedelta(minutes=6)
    renewed = qs.renew(first, now=now[0])
    assert renewed.url == "https://quicksight.example/2" and not renewed.expired(now[0])


@pytest.mark.parametrize(
    ("code", "message", "problem", "words"),
    [
        (
            "AccessDeniedException",
            "User is not authorized",
            "access_denied",
            "quicksight:GenerateEmbedUrlForRegisteredUser",
        ),
        ("ResourceNotFoundException", "Dashboard not found", "not_found", "dash-1 does not exist"),
        (
            "ResourceNotFoundException",
            "The account 123456789012 is not signed up for QuickSight",
            "no_subscription",
            "no QuickSight subscription",
        ),
        ("UnsupportedUserEditionException", "Standard edition", "enterprise_needed", "Enterprise edition"),
        ("QuickSightUserNotFoundException", "no user", "user_not_found", "is not registered"),
        ("ThrottlingException", "slow down", "throttled", "try again"),
    ],
)
def test_failures_are_explained_in_plain_words(client, code, message, problem, words):
    client.stub.add_client_error(
        "generate_embed_url_for_registered_user", service_error_code=code, service_message=message, http_status_code=403
    )
    embed = make(client).embed("dash-1")
    assert embed.url is None and embed.problem_code == problem and words in embed.problem
    assert embed.expired()


def test_missing_configuration_never_calls_aws(client):
    assert make(client, account_id="").embed("dash-1").problem_code == "no_account"
    assert make(client, user_arn="").embed("dash-1").problem_code == "no_user"
    # The Stubber fixture asserts no call was queued or made.


def test_local_world_lists_and_never_errors(settings):
    assert dashboard_ids(" a, b ,,a ") == ["a", "b"]
    local = LocalQuickSight("")
    assert local.configured() == [] and local.embeds() == []
    local = LocalQuickSight("dash-1")
    assert local.embed("dash-1").problem_code == "local_world"
    assert isinstance(build_quicksight(settings), LocalQuickSight)
