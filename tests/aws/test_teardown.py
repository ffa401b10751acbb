"""``deploy up`` / ``down`` from every half-state: a fault at each step of ``up`` (and of
``down``), then ``up`` again and ``down`` — or ``down`` straight away — must leave NOTHING in
the account: every resource type the templates and the deployer create is listed and must
be empty, and this machine's certificate files and configuration are gone.

The real deployer runs against moto (S3, IoT, IAM, DynamoDB, Firehose, Glue, Athena, Logs,
Lambda, API Gateway, STS) with CloudFormation played by ``tests.aws.fakes.FakeCloudFormation``
(moto's own has no rollback or DELETE_FAILED and lacks half our types), which creates each
resource through moto's service API, so IoT and S3 refuse deletions exactly as AWS does.
IoT's asynchronous ``DetachThingPrincipal`` is modelled by ``EventualDetach``.
"""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from core.deploy import state
from core.deploy.stack import artifacts_stack_name
from core.errors import ConfigError, DeployFailed, FaceGateError
from tests.aws.conftest import REGION, STACK
from tests.aws.fakes import fail_once

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def assert_deployed_and_consistent(acc, stack=STACK, device="id001"):
    """What a good ``up`` leaves: one ACTIVE certificate, attached to the stack's policy and
    thing, stored here for that thing; the code zip; the app configuration."""
    iot = acc.session.client("iot", region_name=REGION)
    outputs = acc.cf._find(stack).outputs
    thing = outputs["ThingName"]
    assert thing == f"{stack}-{device}"
    certs = iot.list_certificates()["certificates"]
    mine = [c for c in certs if c["certificateArn"] in iot.list_thing_principals(thingName=thing)["principals"]]
    assert len(mine) == 1 and mine[0]["status"] == "ACTIVE", certs
    arn = mine[0]["certificateArn"]
    assert iot.list_targets_for_policy(policyName=outputs["IotPolicyName"])["targets"] == [arn]
    creds = state.device_credentials(acc.settings(), stack)
    assert creds.certificate_arn == arn and creds.client_id == thing
    assert "FACEGATE_BACKEND" in acc.secrets.read_text()


def assert_empty(acc, stack=STACK):
    assert acc.left() == {}
    assert not state.stack_dir(acc.settings(), stack).exists()
    assert "FACEGATE_" not in (acc.secrets.read_text() if acc.secrets.exists() else "")


def _lost_answer(client, operation):
    """IoT does the work but the answer never arrives (a read timeout)."""
    done = {"left": 1}

    def raise_after(http_response, parsed, model, **_):
        if model.name == operation and done["left"]:
            done["left"] -= 1
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://iot.ap-northeast-1.amazonaws.com")

    client.meta.events.register("after-call.iot.*", raise_after)


def _user_key_in_secrets(acc):
    acc.secrets.write_text('FACEGATE_BACKEND = "local"\n')


# Each fault hits one step of `up`; the comment says what it leaves behind.
UP_FAULTS = {
    # nothing created yet
    "caller-identity": lambda a: fail_once(a.client("sts"), "GetCallerIdentity"),
    # the artifacts stack rolls back: ROLLBACK_COMPLETE, which can only be deleted
    "artifacts-stack": lambda a: a.cf.fail("ArtifactsBucket"),
    # artifacts bucket without the code zip
    "code-upload": lambda a: fail_once(
        a.client("s3"), "PutObject", when=lambda p: str(p.get("Key", "")).startswith("lambda/")
    ),
    # the main stack's first creation rolls back (ROLLBACK_COMPLETE)
    "main-stack-collection": lambda a: a.cf.fail("FaceCollection", reason="collection already exists"),
    "main-stack-usage-plan-key": lambda a: a.cf.fail("WebApiUsagePlanKey"),
    "main-stack-quicksight": lambda a: a.cf.fail("QuickSightDashboard", reason="QuickSight is not subscribed"),
    # ... and its rollback fails too (ROLLBACK_FAILED: a bucket would not go)
    "main-stack-rollback-fails": lambda a: (a.cf.fail("WebApiUsagePlanKey"), a.cf.fail("LogsBucket", "delete")),
    # the certificate is not made, or made but the answer is lost (nothing here knows its id)
    "create-certificate": lambda a: fail_once(a.client("iot"), "CreateCertificateFromCsr"),
    "create-certificate-answer-lost": lambda a: _lost_answer(a.client("iot"), "CreateCertificateFromCsr"),
    # a certificate attached to nothing, or to the policy only
    "attach-policy": lambda a: fail_once(a.client("iot"), "AttachPolicy"),
    "attach-thing": lambda a: fail_once(a.client("iot"), "AttachThingPrincipal"),
    # everything deployed, the app configuration not written
    "iot-endpoint": lambda a: fail_once(a.client("iot"), "DescribeEndpoint"),
    "api-key": lambda a: fail_once(a.client("apigateway"), "GetApiKey"),
    "app-config": _user_key_in_secrets,
}


def _up_fails(acc, fault):
    UP_FAULTS[fault](acc)
    with pytest.raises((FaceGateError, ConfigError)):
        acc.deployer().up()
    if fault == "app-config":
        acc.secrets.write_text("")  # the user removes the key that clashed


@pytest.mark.parametrize("fault", sorted(UP_FAULTS))
def test_a_fault_in_up_then_up_again_then_down_leaves_nothing(account, fault):
    _up_fails(account, fault)
    account.deployer().up()
    assert_deployed_and_consistent(account)
    account.deployer().down()
    assert_empty(account)


@pytest.mark.parametrize("fault", sorted(UP_FAULTS))
def test_a_fault_in_up_then_down_leaves_nothing(account, fault):
    _up_fails(account, fault)
    account.deployer().down()
    assert_empty(account)


def test_up_twice_reuses_everything_and_down_leaves_nothing(account):
    first = account.deployer().up()
    calls = len(account.cf.calls)
    second = account.deployer().up()
    assert second["lambda_code"] == first["lambda_code"]
    assert "CreateStack" not in account.cf.calls[calls:]
    assert_deployed_and_consistent(account)
    account.deployer().down()
    assert_empty(account)


def test_a_new_device_id_gets_a_new_certificate_and_the_old_one_is_removed(account):
    account.deployer().up()
    old = state.device_credentials(account.settings(), STACK)
    account.deployer(device_id="gate2").up()
    assert_deployed_and_consistent(account, device="gate2")
    new = state.device_credentials(account.settings(), STACK)
    assert new.certificate_id != old.certificate_id and new.client_id == f"{STACK}-gate2"
    iot = account.session.client("iot", region_name=REGION)
    assert [c["certificateId"] for c in iot.list_certificates()["certificates"]] == [new.certificate_id]
    assert [t["thingName"] for t in iot.list_things()["things"]] == [f"{STACK}-gate2"]
    account.deployer(device_id="gate2").down()
    assert_empty(account)


def test_a_failed_update_rolls_back_then_up_and_down_work(account):
    account.deployer().up()
    account.cf.fail("PhotosBucket", "update")
    with pytest.raises(DeployFailed, match="PhotosBucket"):
        account.deployer(retention_match_hours=24).up()
    assert account.cf._find(STACK).status == "UPDATE_ROLLBACK_COMPLETE"
    account.deployer(retention_match_hours=24).up()
    assert_deployed_and_consistent(account)
    account.deployer().down()
    assert_empty(account)


DOWN_FAULTS = {
    "detach-thing": lambda a: fail_once(a.client("iot"), "DetachThingPrincipal"),
    "delete-certificate": lambda a: fail_once(a.client("iot"), "DeleteCertificate"),
    "empty-bucket": lambda a: fail_once(a.client("s3"), "DeleteObjects"),
    "stack-delete-fails-twice": lambda a: (a.cf.fail("LogsBucket", "delete"), a.cf.fail("SensorTable", "delete")),
    "artifacts-delete": lambda a: a.cf.fail("ArtifactsBucket", "delete"),
}


@pytest.mark.parametrize("fault", sorted(DOWN_FAULTS))
def test_a_fault_in_down_then_down_again_leaves_nothing(account, fault):
    account.deployer().up()
    s3 = account.session.client("s3", region_name=REGION)
    photos = account.cf._find(STACK).outputs["PhotosBucket"]
    s3.put_object(Bucket=photos, Key="image01_20190808181200.jpg", Body=b"jpeg")
    DOWN_FAULTS[fault](account)
    try:
        account.deployer().down()
    except FaceGateError:
        pass  # some faults are absorbed by down's own retries
    account.deployer().down()
    assert_empty(account)


def test_down_waits_for_iot_to_detach_and_says_what_to_do_when_it_does_not(account):
    account.deployer().up()
    account.detach.lag = 10**6  # IoT never finishes detaching
    deployer = account.deployer()
    deployer.options.detach_timeout = 0.0
    with pytest.raises(DeployFailed, match="detaches asynchronously.*deploy down"):
        deployer.down()
    assert account.cf._find(STACK).status == "CREATE_COMPLETE"  # nothing deleted under it
    account.detach.lag = 2  # IoT catches up
    account.detach.pending = {k: 1 for k in account.detach.pending}
    account.deployer().down()
    assert_empty(account)


def test_a_certificate_attached_to_the_policy_only_is_found_and_removed(account):
    """A certificate made elsewhere and attached only to the stack's policy (not to the thing
    and unknown to this machine) still blocks deleting the policy: down must find it."""
    account.deployer().up()
    iot = account.session.client("iot", region_name=REGION)
    other = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=account.cf._find(STACK).outputs["IotPolicyName"], target=other["certificateArn"])
    account.deployer().down()
    assert_empty(account)


def test_two_stacks_in_one_account_do_not_collide(account):
    account.deployer().up()
    account.deployer(stack="facegate-dev", parameters={"QuickSightPrincipalArn": ""}).up()
    assert sorted(account.cf.collections) == ["facegate", "facegate-dev"]
    account.deployer(stack="facegate-dev").down()
    account.deployer().down()
    assert account.left() == {}


def test_the_inventory_sees_each_kind_of_leftover(account):
    """The emptiness check cannot pass by listing nothing: after up, every kind is there."""
    account.deployer().up()
    left = account.left()
    expected = {
        "cloudformation stacks", "s3 buckets", "dynamodb tables", "rekognition collections", "iot things",
        "iot policies", "iot certificates", "iot topic rules", "iam roles", "iam policies", "firehose delivery streams",
        "glue databases", "athena workgroups", "log groups", "lambda functions", "rest apis", "api keys",
        "usage plans", "quicksight assets",
    }  # fmt: skip
    assert set(left) == expected
    assert sorted(left["cloudformation stacks"]) == sorted([STACK, artifacts_stack_name(STACK)])
    assert len(left["quicksight assets"]) == 3 and len(left["iot topic rules"]) == 4
    assert json.dumps(left)  # plain data, printable in a failure message
