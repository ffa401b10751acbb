"""The QuickSight part, in the order docs/aws.md gives it:

1. (console, once) a QuickSight subscription, Enterprise edition; the viewer's user exists;
2. ``deploy up --parameter QuickSightPrincipalArn=<user ARN>`` checks 1 first (Stubber: moto
   has no DescribeAccountSubscription), then creates the data-source role, the Athena data
   source that runs as it, the data set (DIRECT_QUERY by default; SPICE never waited for, so a
   failed ingestion cannot roll the stack back) and the dashboard;
3. the app embeds it: GenerateEmbedUrlForRegisteredUser with the user's ARN (UserArn), the
   dashboard ``<stack>-faces`` and AllowedDomains from settings (Stubber validates the request).
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from core.config import load_settings
from core.deploy.template import render_template
from core.errors import ConfigError, DeployFailed
from tests.aws.conftest import QUICKSIGHT_USER, REGION, STACK

ACCOUNT = "123456789012"


def _quicksight_stub():
    client = boto3.client("quicksight", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _deployer_with(account, client):
    deployer = account.deployer()
    deployer._cache[("quicksight", None)] = client
    return deployer


def test_the_deployer_checks_subscription_edition_and_user_before_the_stack(account):
    client, stub = _quicksight_stub()
    deployer = _deployer_with(account, client)
    with stub:
        stub.add_client_error(
            "describe_account_subscription", "ResourceNotFoundException", "no subscription",
            expected_params={"AwsAccountId": ACCOUNT},
        )  # fmt: skip
        with pytest.raises(DeployFailed, match="no QuickSight subscription.*Sign up"):
            deployer.check_quicksight(ACCOUNT, QUICKSIGHT_USER)
        stub.add_response(
            "describe_account_subscription",
            {
                "AccountInfo": {
                    "AccountName": "x",
                    "Edition": "STANDARD",
                    "AccountSubscriptionStatus": "ACCOUNT_CREATED",
                }
            },
            {"AwsAccountId": ACCOUNT},
        )
        with pytest.raises(DeployFailed, match="needs Enterprise"):
            deployer.check_quicksight(ACCOUNT, QUICKSIGHT_USER)
        stub.add_response(
            "describe_account_subscription",
            {
                "AccountInfo": {
                    "AccountName": "x",
                    "Edition": "ENTERPRISE",
                    "AccountSubscriptionStatus": "ACCOUNT_CREATED",
                }
            },
            {"AwsAccountId": ACCOUNT},
        )
        stub.add_client_error(
            "describe_user", "ResourceNotFoundException", "no such user",
            expected_params={"UserName": "learner", "AwsAccountId": ACCOUNT, "Namespace": "default"},
        )  # fmt: skip
        with pytest.raises(DeployFailed, match="not registered.*list-users"):
            deployer.check_quicksight(ACCOUNT, QUICKSIGHT_USER)
        stub.add_response(
            "describe_account_subscription",
            {
                "AccountInfo": {
                    "AccountName": "x",
                    "Edition": "ENTERPRISE",
                    "AccountSubscriptionStatus": "ACCOUNT_CREATED",
                }
            },
            {"AwsAccountId": ACCOUNT},
        )
        stub.add_response(
            "describe_user",
            {"User": {"Arn": QUICKSIGHT_USER, "UserName": "learner", "Role": "AUTHOR", "Active": True}},
            {"UserName": "learner", "AwsAccountId": ACCOUNT, "Namespace": "default"},
        )
        assert deployer.check_quicksight(ACCOUNT, QUICKSIGHT_USER)["Edition"] == "ENTERPRISE"
        stub.assert_no_pending_responses()
    with pytest.raises(Exception, match="arn:aws:quicksight"):
        deployer.check_quicksight(ACCOUNT, "learner")  # a name, not an ARN


def test_a_missing_subscription_stops_up_before_any_stack_exists(account):
    account.client("quicksight")
    account.quicksight_edition = "STANDARD"
    with pytest.raises(DeployFailed, match="Enterprise"):
        account.deployer().up()
    assert account.cf.live_stacks() == [f"{STACK}-artifacts"]  # the main stack was never asked for
    account.deployer().down()
    assert account.left() == {}


def test_a_failed_spice_ingestion_does_not_roll_the_stack_back(account):
    account.cf.ingestion_fails = True
    account.deployer(parameters={"QuickSightImportMode": "SPICE"}).up()
    assert account.cf._find(STACK).status == "CREATE_COMPLETE"
    data_set = next(r for r in account.cf._find(STACK).resources.values() if r.kind == "AWS::QuickSight::DataSet")
    assert data_set.props["ImportMode"] == "SPICE"
    account.deployer().down()
    assert account.left() == {}


def test_without_the_wait_policy_the_same_failure_would_roll_it_back(account):
    """The fake models CloudFormation's documented default (wait for SPICE ingestion), so the
    test above proves the template's IngestionWaitPolicy, not a lenient fake."""
    template = render_template()
    del template["Resources"]["QuickSightAnalysisDataSet"]["Properties"]["IngestionWaitPolicy"]
    import core.deploy.stack as stack_module

    account.cf.ingestion_fails = True
    original = stack_module.render_template
    stack_module.render_template = lambda: template
    try:
        with pytest.raises(DeployFailed, match="QuickSightAnalysisDataSet: Ingestion failed"):
            account.deployer(parameters={"QuickSightImportMode": "SPICE"}).up()
    finally:
        stack_module.render_template = original
    assert account.cf._find(STACK).status == "ROLLBACK_COMPLETE"
    account.deployer().down()
    assert account.left() == {}


def test_by_default_the_dashboard_queries_athena_directly_as_its_own_role(account):
    account.deployer().up()
    resources = account.cf._find(STACK).resources
    data_set = next(r for r in resources.values() if r.kind == "AWS::QuickSight::DataSet")
    source = next(r for r in resources.values() if r.kind == "AWS::QuickSight::DataSource")
    role = resources["QuickSightDataSourceRole"]
    assert data_set.props["ImportMode"] == "DIRECT_QUERY"  # nothing in SPICE: nothing to pay while idle
    assert source.props["DataSourceParameters"]["AthenaParameters"]["RoleArn"] == role.attrs["Arn"]
    iam = account.session.client("iam", region_name=REGION)
    trust = iam.get_role(RoleName=role.physical)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "quicksight.amazonaws.com"}
    doc = iam.get_role_policy(RoleName=role.physical, PolicyName="read-logs-through-athena")["PolicyDocument"]
    logs = account.cf._find(STACK).outputs["LogsBucket"]
    resources_granted = json.dumps(doc)
    assert f"arn:aws:s3:::{logs}/analysis/*" in resources_granted
    assert f"arn:aws:s3:::{logs}/athena-results/*" in resources_granted
    account.deployer().down()


def test_the_documented_sequence_ends_with_an_embed_for_the_registered_user(account, monkeypatch):
    summary = account.deployer().up()
    assert summary["outputs"]["QuickSightDashboardId"] == f"{STACK}-faces"
    monkeypatch.setenv("FACEGATE_QUICKSIGHT_ALLOWED_DOMAINS", "https://192.168.1.20:8501, https://gate.example")
    settings = load_settings(
        env={
            "FACEGATE_DATA_DIR": str(account.tmp / "data"),
            "FACEGATE_QUICKSIGHT_ALLOWED_DOMAINS": "https://192.168.1.20:8501, https://gate.example",
        },
        secrets_file=account.secrets,
    )
    assert (settings.quicksight_dashboards, settings.quicksight_user_arn) == (f"{STACK}-faces", QUICKSIGHT_USER)
    from core.quicksight import build_quicksight

    quicksight = build_quicksight(settings)
    client, stub = _quicksight_stub()
    quicksight._client = client
    with stub:
        stub.add_response(
            "generate_embed_url_for_registered_user",
            {"EmbedUrl": "https://example.quicksight.aws/embed/abc", "Status": 200, "RequestId": "r1"},
            {
                "AwsAccountId": ACCOUNT,
                "UserArn": QUICKSIGHT_USER,
                "SessionLifetimeInMinutes": ANY,
                "ExperienceConfiguration": {"Dashboard": {"InitialDashboardId": f"{STACK}-faces"}},
                "AllowedDomains": ["https://192.168.1.20:8501", "https://gate.example"],
            },
        )
        [embed] = quicksight.embeds()
        stub.assert_no_pending_responses()
    assert embed.url == "https://example.quicksight.aws/embed/abc"
    account.deployer().down()
    assert account.left() == {}


def test_anonymous_embedding_names_the_dashboard_arn(account):
    from core.quicksight.aws import AwsQuickSight

    client, stub = _quicksight_stub()
    quicksight = AwsQuickSight(
        lambda: client, dashboards=f"{STACK}-faces", account_id=ACCOUNT, region=REGION, anonymous=True
    )
    with stub:
        stub.add_client_error(
            "generate_embed_url_for_anonymous_user", "UnsupportedPricingPlanException", "capacity pricing needed",
            expected_params={
                "AwsAccountId": ACCOUNT, "Namespace": "default", "SessionLifetimeInMinutes": ANY,
                "AuthorizedResourceArns": [f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dashboard/{STACK}-faces"],
                "ExperienceConfiguration": {"Dashboard": {"InitialDashboardId": f"{STACK}-faces"}},
            },
        )  # fmt: skip
        [embed] = quicksight.embeds()
    assert embed.problem_code == "pricing_plan" and "capacity pricing" in embed.problem


def test_allowed_domains_must_be_https_origins():
    from core.quicksight import allowed_domains

    assert allowed_domains(" https://a:8501/ , https://a:8501,http://localhost:8501") == [
        "https://a:8501",
        "http://localhost:8501",
    ]
    with pytest.raises(ConfigError, match="not an https origin"):
        allowed_domains("http://192.168.1.20:8501")
