"""``deploy up`` / ``status`` / ``down`` against CloudFormation, S3, IoT and API Gateway.

Two stacks: ``<stack>-artifacts`` (one private bucket for the Lambda code, needed before
the main stack can be created) and ``<stack>`` (everything in ``deploy/template.yaml``).
The device certificate is created outside CloudFormation from a key generated on this
machine (``core.deploy.device``), so the private key never leaves it; ``down`` retires every
certificate of the stack before deleting it, because IoT refuses to delete a thing or a
policy that still has a certificate attached. ``down`` works from every state an interrupted
``up`` or ``down`` leaves: it finds the stack's things, policies and buckets through
``ListStackResources`` (a stack that rolled back has no outputs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3.exceptions
import botocore.exceptions

from core.aws.clients import aws_client, aws_errors, domain_error
from core.config import Settings
from core.deploy import package, policies, state
from core.deploy.device import DETACH_TIMEOUT_SECONDS, DeviceIdentity
from core.deploy.template import ARTIFACTS_TEMPLATE_FILE, load_template, render_template, template_json
from core.errors import DeployFailed, InvalidParameter, ResourceNotFound

log = logging.getLogger(__name__)

MAX_TEMPLATE_BODY = 51_200  # CloudFormation's limit for TemplateBody; larger goes through S3
CAPABILITIES = ["CAPABILITY_IAM"]
# Stack outputs -> FaceGate settings written into the app's configuration.
OUTPUT_SETTINGS = {
    "Region": "region",
    "CollectionId": "collection",
    "PhotosBucket": "photos_bucket",
    "FacesBucket": "faces_bucket",
    "LogsBucket": "logs_bucket",
    "SensorTable": "sensor_table",
    "DeviceId": "device_id",
    "TopicPrefix": "topic_prefix",
    "ApiUrl": "api_url",
    "ApiKeyId": "api_key_id",  # with the usage plan: the remaining quota on the settings page
    "UsagePlanId": "usage_plan_id",
    "QuickSightDashboardId": "quicksight_dashboards",
    "GlueDatabase": "glue_database",
    "AthenaWorkGroup": "athena_workgroup",
}
CODE_KEY = "lambda/facegate.zip"  # one key, versioned: see deploy/artifacts.yaml
# A stack in one of these never finished its first creation: it can only be deleted.
NEVER_CREATED = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED")
# CloudFormation's rule for stack names, kept short enough that every name derived from it
# (functions "<stack>-search", workgroup "<stack>-logs", things "<stack>-<device>") fits.
STACK_NAME_PATTERN = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,39}$")


def derived_names(stack_name: str) -> dict:
    """Names a new stack gets from its own name, so that two stacks in one account do not
    collide: the Rekognition collection and the Glue database (lower case, ``_`` only)."""
    return {
        "CollectionId": stack_name,
        "GlueDatabaseName": re.sub(r"[^a-z0-9_]", "_", stack_name.lower()),
    }


BOUNDARY_TAG = "facegate:created-by"


def _error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _canonical(document) -> str:
    """A policy document (dict, or the URL-encoded JSON IAM may return) in one comparable form."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return json.dumps(document, sort_keys=True)


def artifacts_stack_name(stack_name: str) -> str:
    return f"{stack_name}-artifacts"


@dataclass
class DeployOptions:
    stack_name: str
    region: str
    parameters: dict = field(default_factory=dict)  # template parameter overrides
    wait_delay: int = 10  # seconds between CloudFormation polls
    detach_timeout: float = DETACH_TIMEOUT_SECONDS  # longest wait for IoT to detach a certificate
    sleep: Callable[[float], None] = time.sleep


class Deployer:
    """``clients(service_name)`` returns a boto3 client (tests pass moto- or Stubber-bound ones)."""

    def __init__(
        self,
        settings: Settings,
        options: DeployOptions,
        clients: Callable | None = None,
        secrets_file: Path | None = None,
    ):
        self.settings = settings
        self.options = options
        self._clients = clients or (lambda name, region=None: aws_client(name, region or options.region))
        self._cache: dict = {}
        self.bytecode = ""
        self.secrets_file = Path(secrets_file) if secrets_file else state.secrets_path()

    def sleep(self, seconds: float) -> None:
        self.options.sleep(seconds)

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(
            self.client("iot"),
            self.settings,
            self.options.stack_name,
            detach_timeout=self.options.detach_timeout,
            sleep=self.options.sleep,
        )

    def client(self, name: str, region: str | None = None):
        """The boto3 client for ``name`` (in ``region`` when it is not the deployment's)."""
        region = region if region and region != self.options.region else None
        key = (name, region)
        if key not in self._cache:
            self._cache[key] = self._clients(name) if region is None else self._clients(name, region)
        return self._cache[key]

    # ------------------------------------------------------------------ stacks
    def _describe(self, name: str) -> dict | None:
        try:
            with aws_errors():
                return self.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        except ResourceNotFound:
            return None
        except Exception as exc:  # CloudFormation answers ValidationError "does not exist"
            if "does not exist" in str(exc):
                return None
            raise

    def _failure_reasons(self, name: str) -> list[str]:
        """Why the stack's latest operation failed: the reasons of its resources' ``*_FAILED``
        events since the stack's own last ``*_IN_PROGRESS`` event, oldest first, once each."""
        with aws_errors():
            events = self.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
        reasons: list[str] = []
        for e in events:  # newest first
            if (
                e.get("ResourceType") == "AWS::CloudFormation::Stack"
                and e["ResourceStatus"].endswith("_IN_PROGRESS")
                and e["ResourceStatus"] not in ("UPDATE_ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
            ):
                break
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason"):
                line = f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}"
                if line not in reasons:
                    reasons.append(line)
        return list(reversed(reasons))[:10]

    def _wait(self, name: str, waiter_name: str) -> None:
        waiter = self.client("cloudformation").get_waiter(waiter_name)
        try:
            waiter.wait(StackName=name, WaiterConfig={"Delay": self.options.wait_delay, "MaxAttempts": 360})
        except botocore.exceptions.WaiterError:
            stack = self._describe(name)
            status = stack["StackStatus"] if stack else "GONE"
            reasons = self._failure_reasons(name) if stack else []
            raise DeployFailed(
                f"stack {name} ended in {status}: " + ("; ".join(reasons) or "see the console")
            ) from None

    def _settle(self, name: str) -> dict | None:
        """Wait while ``name`` is in an ``*_IN_PROGRESS`` state (another run, or AWS still
        cleaning up); return its settled description (None when it is gone)."""
        for _ in range(720):
            stack = self._describe(name)
            if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
                return stack
            self.sleep(max(self.options.wait_delay, 1))
        status = stack["StackStatus"] if stack else "gone"
        raise DeployFailed(f"stack {name} stayed {status} for too long; see the CloudFormation console")

    def ensure_stack(self, name: str, template: dict, parameters: dict, template_bucket: str | None = None) -> dict:
        """Create ``name`` or update it to ``template``; wait; return the stack description.
        A stack whose first creation failed (it was never used) is deleted and created again.
        Raises DeployFailed with CloudFormation's reasons when it rolls back, or with what to
        do when the stack is in a state only a person can resolve."""
        cfn = self.client("cloudformation")
        body = template_json(template)
        source = {"TemplateBody": body}
        if len(body) > MAX_TEMPLATE_BODY:
            if not template_bucket:
                raise DeployFailed(f"template for {name} is over {MAX_TEMPLATE_BODY} bytes and no bucket is given")
            key = f"templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
            with aws_errors():
                self.client("s3").put_object(Bucket=template_bucket, Key=key, Body=body.encode())
            source = {"TemplateURL": f"https://{template_bucket}.s3.amazonaws.com/{key}"}
        params = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()]
        existing = self._settle(name)
        status = existing["StackStatus"] if existing else None
        if status in NEVER_CREATED:
            # A first creation that failed can only be deleted, never updated; nothing in it was used.
            self._delete_stack(name)
            existing = None
        elif status == "DELETE_FAILED":
            raise DeployFailed(
                f"stack {name} is DELETE_FAILED (a `deploy down` did not finish): run "
                "`python -m core deploy down` again, then `deploy up`"
            )
        elif status == "UPDATE_ROLLBACK_FAILED":
            raise DeployFailed(
                f"stack {name} is UPDATE_ROLLBACK_FAILED: "
                + "; ".join(self._failure_reasons(name))
                + ". Fix the named resource, then in the CloudFormation console choose "
                "Stack actions > Continue update rollback, and run `deploy up` again"
            )
        if existing is None:
            with aws_errors():
                cfn.create_stack(
                    StackName=name,
                    Parameters=params,
                    Capabilities=CAPABILITIES,
                    OnFailure="ROLLBACK",
                    Tags=[{"Key": "app", "Value": "facegate"}],
                    **source,
                )
            self._wait(name, "stack_create_complete")
        else:
            try:
                with aws_errors():
                    cfn.update_stack(StackName=name, Parameters=params, Capabilities=CAPABILITIES, **source)
            except Exception as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
            else:
                self._wait(name, "stack_update_complete")
        stack = self._describe(name)
        if stack is None:
            raise DeployFailed(f"stack {name} is not there after it was created or updated")
        return stack

    def stack_resources(self, name: str) -> list[dict]:
        """``ListStackResources`` of ``name`` (works in every state, even without outputs);
        empty when the stack does not exist."""
        try:
            with aws_errors():
                pages = self.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name)
                return [r for page in pages for r in page.get("StackResourceSummaries", [])]
        except Exception as exc:
            if "does not exist" in str(exc):
                return []
            raise

    def physical_ids(self, name: str, kind: str) -> list[str]:
        return [
            r["PhysicalResourceId"]
            for r in self.stack_resources(name)
            if r["ResourceType"] == kind and r.get("PhysicalResourceId") and r["ResourceStatus"] != "DELETE_COMPLETE"
        ]

    @staticmethod
    def outputs(stack: dict | None) -> dict:
        return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}

    # ------------------------------------------------------------------ up
    def upload_code(self, bucket: str) -> tuple[str, str]:
        """Build the Lambda zip and upload it as a new version of ``CODE_KEY`` unless the
        current version is that exact build (its SHA-256 is in the object's metadata).
        Returns ``(key, version id)``; the functions run that version."""
        with tempfile.TemporaryDirectory(prefix="facegate-lambda-") as tmp:
            built = package.build_lambda_zip(Path(tmp))
            path, digest = built.path, built.sha256
            self.bytecode = built.bytecode
            s3 = self.client("s3")
            try:
                with aws_errors():
                    head = s3.head_object(Bucket=bucket, Key=CODE_KEY)
                if head.get("Metadata", {}).get("sha256") == digest and head.get("VersionId"):
                    return CODE_KEY, head["VersionId"]
            except ResourceNotFound:
                pass
            try:
                with aws_errors():
                    s3.upload_file(str(path), bucket, CODE_KEY, ExtraArgs={"Metadata": {"sha256": digest}})
            except boto3.exceptions.S3UploadFailedError as exc:  # boto3's transfer wraps the ClientError
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
                    raise domain_error(cause) from exc
                raise DeployFailed(f"could not upload the Lambda code to {bucket}: {exc}") from exc
            with aws_errors():
                head = s3.head_object(Bucket=bucket, Key=CODE_KEY)
        if head.get("Metadata", {}).get("sha256") != digest or not head.get("VersionId"):
            raise DeployFailed(f"{bucket}/{CODE_KEY} is not the build just uploaded (is the bucket versioned?)")
        return CODE_KEY, head["VersionId"]

    def main_parameters(self, existing: dict | None, code_bucket: str, code: tuple[str, str]) -> dict:
        """The main stack's parameters. An existing stack keeps its collection and Glue
        database (a new id would replace the collection and lose every enrolled face); a new
        one derives them from its name. ``--parameter`` overrides win."""
        current = {p["ParameterKey"]: p["ParameterValue"] for p in (existing or {}).get("Parameters", [])}
        names = derived_names(self.options.stack_name)
        return {
            "LambdaCodeBucket": code_bucket,
            "LambdaCodeKey": code[0],
            "LambdaCodeVersion": code[1],
            "CollectionId": current.get("CollectionId") or names["CollectionId"],
            "GlueDatabaseName": current.get("GlueDatabaseName") or names["GlueDatabaseName"],
            "DeviceId": self.settings.device_id,
            "TopicPrefix": self.settings.topic_prefix,
            # S3 expires by whole days: keep captures at least as long as the app's retention.
            "PhotosRetentionDays": max(1, math.ceil(self.settings.retention_match_hours / 24)),
            "LogsRetentionDays": max(1, math.ceil(self.settings.retention_log_days)),
            **self.options.parameters,
        }

    def _remove_replaced_thing(self, thing: str, current: str) -> None:
        """After a device id change CloudFormation deletes the old thing; if that failed (a
        principal was still attached), delete it here so nothing is left outside the stack."""
        if thing == current:
            return
        identity = self.identity()
        identity.retire_all([thing], [])
        try:
            identity.wait_thing_free(thing)
            with aws_errors():
                self.client("iot").delete_thing(thingName=thing)
        except ResourceNotFound:
            pass

    # ------------------------------------------------------------------ QuickSight
    def check_quicksight(self, account: str, principal_arn: str) -> dict:
        """Before the stack asks QuickSight for anything: the account has a QuickSight
        subscription (a console step no API of ours takes: it is a paid sign-up) in an edition
        that can embed, and the principal exists. Raises DeployFailed saying which console step
        is missing, instead of a stack rollback with QuickSight's terse reason."""
        match = re.match(r"^arn:aws[a-z-]*:quicksight:([a-z0-9-]+):(\d{12}):(user|group)/([^/]+)/(.+)$", principal_arn)
        if not match:
            raise InvalidParameter(
                "QuickSightPrincipalArn must look like "
                "arn:aws:quicksight:<identity region>:<account>:user/default/<name>"
            )
        identity_region, arn_account, kind, namespace, name = match.groups()
        if arn_account != account:
            raise InvalidParameter(f"QuickSightPrincipalArn is in account {arn_account}, the deployment in {account}")
        try:
            info = self.client("quicksight").describe_account_subscription(AwsAccountId=account)["AccountInfo"]
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("ResourceNotFoundException", "UnsupportedUserEditionException"):
                raise DeployFailed(
                    f"account {account} has no QuickSight subscription. Sign up once in the console "
                    "(QuickSight > Sign up, Enterprise edition for embedding), or leave QuickSightPrincipalArn empty"
                ) from None
            raise domain_error(exc) from exc
        if not str(info.get("Edition", "")).startswith("ENTERPRISE"):
            raise DeployFailed(
                f"QuickSight in account {account} is {info.get('Edition')}: embedding dashboards needs Enterprise "
                "edition (console: Manage QuickSight > Your subscriptions > Upgrade)"
            )
        client = self.client("quicksight", identity_region)  # users live in the identity region
        try:
            if kind == "user":
                client.describe_user(UserName=name, AwsAccountId=account, Namespace=namespace)
            else:
                client.describe_group(GroupName=name, AwsAccountId=account, Namespace=namespace)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                raise DeployFailed(
                    f"QuickSight {kind} {name} is not registered in namespace {namespace} ({identity_region}). "
                    "List the users with: aws quicksight list-users --aws-account-id "
                    f"{account} --namespace default --region {identity_region}"
                ) from None
            raise domain_error(exc) from exc
        return info

    # ------------------------------------------------------------------ role boundary
    def _boundary_name(self) -> str:
        return self.options.parameters.get("RolePermissionsBoundary", policies.BOUNDARY_POLICY_NAME)

    def ensure_role_boundary(self, account: str) -> str | None:
        """Make sure the permissions boundary every role of the stack carries exists and is
        FaceGate's current one (deploy/role-boundary-policy.json). A caller allowed to create
        or change IAM policies (an administrator) gets it done here; the least-privilege
        deployer (deploy/deployer-policy-part*.json) may not, by design, and gets the command
        to hand to an administrator. Returns its ARN (None when the boundary is switched off)."""
        name = self._boundary_name()
        if not name:
            return None
        arn = f"arn:aws:iam::{account}:policy/{name}"
        iam = self.client("iam")
        wanted = policies.boundary_policy()
        ours = name == policies.BOUNDARY_POLICY_NAME
        try:
            current = iam.get_policy(PolicyArn=arn)["Policy"]
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) != "NoSuchEntity":
                raise domain_error(exc) from exc
            if not ours:
                raise DeployFailed(
                    f"the permissions boundary policy {name} does not exist in account {account}"
                ) from None
            try:
                iam.create_policy(
                    PolicyName=name,
                    PolicyDocument=json.dumps(wanted),
                    Description="FaceGate: the most any role of a FaceGate stack may do",
                    Tags=[{"Key": BOUNDARY_TAG, "Value": "deploy up"}],
                )
            except botocore.exceptions.ClientError as exc2:
                if _error_code(exc2) in ("AccessDenied", "AccessDeniedException"):
                    raise DeployFailed(
                        f"the role permissions boundary {name} does not exist and this identity may not create "
                        "it (by design). Ask an administrator to run once: aws iam create-policy --policy-name "
                        f"{name} --policy-document file://deploy/role-boundary-policy.json"
                    ) from None
                raise domain_error(exc2) from exc2
            return arn
        if ours:
            with aws_errors():
                doc = iam.get_policy_version(PolicyArn=arn, VersionId=current["DefaultVersionId"])["PolicyVersion"][
                    "Document"
                ]
            if _canonical(doc) != _canonical(wanted):
                self._update_boundary(iam, arn, wanted, name)
        return arn

    def _update_boundary(self, iam, arn: str, wanted: dict, name: str) -> None:
        try:
            versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
            old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            if len(versions) >= 5 and old:  # IAM keeps at most five versions
                iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(wanted), SetAsDefault=True)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                raise DeployFailed(
                    f"the role permissions boundary {name} is not this version's "
                    "(deploy/role-boundary-policy.json) and this identity may not change it (by design). Ask an "
                    f"administrator to run: aws iam create-policy-version --policy-arn {arn} --policy-document "
                    "file://deploy/role-boundary-policy.json --set-as-default"
                ) from None
            raise domain_error(exc) from exc

    def remove_role_boundary(self) -> str:
        """``down``: delete the boundary if ``up`` created it and no role (of another stack)
        still uses it. Returns what happened."""
        name = self._boundary_name()
        if name != policies.BOUNDARY_POLICY_NAME:
            return "NOT_OURS"
        iam = self.client("iam")
        with aws_errors():
            account = self.client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:iam::{account}:policy/{name}"
        try:
            tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn).get("Tags", [])}
            if tags.get(BOUNDARY_TAG) != "deploy up":
                return "KEPT (created outside deploy up)"
            users = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
            if users.get("PolicyRoles") or users.get("PolicyUsers"):
                return "KEPT (another stack's roles use it)"
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=arn)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) == "NoSuchEntity":
                return "NOT_DEPLOYED"
            raise domain_error(exc) from exc
        return "DELETED"

    def up(self) -> dict:
        """Package, create or update both stacks, make or repair the device certificate, write
        the app configuration. Returns a summary without secrets. Raises DeployFailed/domain errors."""
        name = self.options.stack_name
        if not STACK_NAME_PATTERN.match(name):
            raise InvalidParameter(f"stack name {name!r}: a letter, then letters, digits or '-', at most 40 characters")
        with aws_errors():
            account = self.client("sts").get_caller_identity()["Account"]
        artifacts = self.ensure_stack(artifacts_stack_name(name), load_template(ARTIFACTS_TEMPLATE_FILE), {})
        bucket = self.outputs(artifacts)["ArtifactsBucket"]
        self.ensure_role_boundary(account)
        principal = self.options.parameters.get("QuickSightPrincipalArn", "")
        if principal:
            self.check_quicksight(account, principal)
        code = self.upload_code(bucket)
        existing = self._settle(name)
        usable = existing if existing and existing["StackStatus"] not in NEVER_CREATED else None
        params = self.main_parameters(usable, bucket, code)
        old_thing = self.outputs(usable).get("ThingName")
        previous_device = {p["ParameterKey"]: p["ParameterValue"] for p in (usable or {}).get("Parameters", [])}.get(
            "DeviceId"
        )
        if old_thing and previous_device is not None and previous_device != params["DeviceId"]:
            # The device id names the thing: CloudFormation replaces it and deletes the old one,
            # which IoT refuses while a certificate is attached. Retire those certificates first.
            self.identity().retire_all([old_thing], [])
        stack = self.ensure_stack(name, render_template(), params, template_bucket=bucket)
        out = self.outputs(stack)
        if old_thing:
            self._remove_replaced_thing(old_thing, out["ThingName"])
        creds = self.identity().ensure(out["ThingName"], out["IotPolicyName"])
        with aws_errors():
            endpoint = self.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
            api_key = self.client("apigateway").get_api_key(apiKey=out["ApiKeyId"], includeValue=True)["value"]
        config = {
            "backend": "aws",
            "stack_name": name,
            "aws_account_id": account,
            "mqtt_endpoint": endpoint,
            "api_key": api_key,
        }
        config.update({setting: out[key] for key, setting in OUTPUT_SETTINGS.items() if key in out})
        if params.get("QuickSightPrincipalArn"):
            config["quicksight_user_arn"] = params["QuickSightPrincipalArn"]
        state.write_app_config(self.secrets_file, config)
        return {
            "stack": name,
            "status": stack["StackStatus"],
            "account": account,
            "region": self.options.region,
            "outputs": out,
            "iot_endpoint": endpoint,
            "device_certificate": str(creds.cert_file),
            "client_id": creds.client_id,
            "app_config": str(self.secrets_file),
            "lambda_code": f"{code[0]}?versionId={code[1]}",
            "lambda_bytecode": self.bytecode
            or (
                f"none: no Python {package.PYTHON_VERSION} found (python{package.PYTHON_VERSION} or "
                "FACEGATE_LAMBDA_PYTHON), so every cold start compiles the sources"
            ),
        }

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        """Both stacks' state, outputs, recent failures and the device certificate's state."""
        name = self.options.stack_name
        out: dict = {"stack": name, "region": self.options.region}
        for label, stack_name in (("main", name), ("artifacts", artifacts_stack_name(name))):
            stack = self._describe(stack_name)
            out[label] = {"status": stack["StackStatus"] if stack else "NOT_DEPLOYED", "outputs": self.outputs(stack)}
            if stack and ("FAILED" in stack["StackStatus"] or "ROLLBACK" in stack["StackStatus"]):
                out[label]["failures"] = self._failure_reasons(stack_name)
        try:
            creds = state.device_credentials(self.settings, name)
            with aws_errors():
                desc = self.client("iot").describe_certificate(certificateId=creds.certificate_id)
            out["device_certificate"] = {
                "id": creds.certificate_id,
                "file": str(creds.cert_file),
                "status": desc["certificateDescription"]["status"],
            }
        except ResourceNotFound:
            out["device_certificate"] = {"status": "NONE_ON_THIS_MACHINE"}
        out["app_config"] = str(self.secrets_file)
        return out

    # ------------------------------------------------------------------ down
    def empty_bucket(self, bucket: str) -> int:
        """Delete every object version and delete marker; return how many were deleted."""
        s3 = self.client("s3")
        deleted = 0
        try:
            with aws_errors():
                for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                    batch = [
                        {"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                    ]
                    for i in range(0, len(batch), 1000):
                        chunk = batch[i : i + 1000]
                        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                        if result.get("Errors"):
                            raise DeployFailed(f"could not empty {bucket}: {result['Errors'][:3]}")
                        deleted += len(chunk)
        except ResourceNotFound:
            return 0
        return deleted

    def _delete_stack(self, name: str) -> str:
        """Empty the stack's buckets and delete it, retrying when something (Firehose, a late
        IoT rule, a slow deletion) made an attempt fail. Raises DeployFailed with
        CloudFormation's reasons when it still cannot be deleted."""
        stack = self._settle(name)
        if stack is None:
            return "NOT_DEPLOYED"
        failure = DeployFailed(f"stack {name} could not be deleted")
        for _attempt in range(3):
            for bucket in self.physical_ids(name, "AWS::S3::Bucket"):
                self.empty_bucket(bucket)
            with aws_errors():
                self.client("cloudformation").delete_stack(StackName=name)
            try:
                self._wait(name, "stack_delete_complete")
                return "DELETED"
            except DeployFailed as exc:
                failure = exc
        raise failure

    def down(self) -> dict:
        """Remove everything: the device certificates (found through the stack's policy and
        thing and this machine's records), bucket contents (all versions), both stacks, and
        this machine's certificate files and app configuration. Works from any state an
        interrupted ``up`` or ``down`` left; run it again if it raises."""
        name = self.options.stack_name
        things = self.physical_ids(name, "AWS::IoT::Thing")
        policies = self.physical_ids(name, "AWS::IoT::Policy")
        identity = self.identity()
        removed_certs = identity.retire_all(things, policies)
        for thing in things:
            identity.wait_thing_free(thing)
        main = self._delete_stack(name)
        artifacts = self._delete_stack(artifacts_stack_name(name))
        boundary = self.remove_role_boundary()
        state.remove_local_state(self.settings, name)
        config_removed = state.remove_app_config(self.secrets_file)
        return {
            "stack": name,
            "main": main,
            "artifacts": artifacts,
            "certificates_deleted": removed_certs,
            "role_boundary": boundary,
            "app_config_removed": config_removed,
        }
