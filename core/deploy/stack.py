"""``deploy up`` / ``status`` / ``down`` against CloudFormation, S3, IoT and API Gateway.

Two stacks: ``<stack>-artifacts`` (one private bucket for the Lambda code, needed before
the main stack can be created) and ``<stack>`` (everything in ``deploy/template.yaml``).
The device certificate is created outside CloudFormation from a key generated on this
machine (IoT ``CreateCertificateFromCsr``), so the private key never leaves it; ``down``
detaches and deletes it before the stack, because IoT refuses to delete a thing or policy
that still has a certificate attached.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions

from core.aws.clients import aws_client, aws_errors
from core.config import Settings
from core.deploy import package, state
from core.deploy.template import ARTIFACTS_TEMPLATE_FILE, load_template, render_template, template_json
from core.errors import DeployFailed, ResourceNotFound

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
    "QuickSightDashboardId": "quicksight_dashboards",
}
_BUCKET_OUTPUTS = ("PhotosBucket", "FacesBucket", "LogsBucket")


def artifacts_stack_name(stack_name: str) -> str:
    return f"{stack_name}-artifacts"


@dataclass
class DeployOptions:
    stack_name: str
    region: str
    parameters: dict = field(default_factory=dict)  # template parameter overrides
    vendor: bool = True  # install deploy/lambda-requirements.txt into the code zip
    wait_delay: int = 10  # seconds between CloudFormation polls


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
        self._clients = clients or (lambda name: aws_client(name, options.region))
        self._cache: dict = {}
        self.secrets_file = Path(secrets_file) if secrets_file else state.secrets_path()

    def client(self, name: str):
        if name not in self._cache:
            self._cache[name] = self._clients(name)
        return self._cache[name]

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
        with aws_errors():
            events = self.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
        return [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED")
        ][:10]

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

    def ensure_stack(self, name: str, template: dict, parameters: dict, template_bucket: str | None = None) -> dict:
        """Create ``name`` or update it to ``template``; wait; return the stack description.
        Raises DeployFailed with CloudFormation's reasons when it rolls back."""
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
        existing = self._describe(name)
        if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
            # A stack whose first creation failed can only be deleted, never updated.
            with aws_errors():
                cfn.delete_stack(StackName=name)
            self._wait(name, "stack_delete_complete")
            existing = None
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
        return self._describe(name)

    @staticmethod
    def outputs(stack: dict | None) -> dict:
        return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}

    # ------------------------------------------------------------------ up
    def upload_code(self, bucket: str) -> str:
        """Build the Lambda zip and upload it unless that exact build is there; return its key."""
        with tempfile.TemporaryDirectory(prefix="facegate-lambda-") as tmp:
            requirements = package.LAMBDA_REQUIREMENTS if self.options.vendor else None
            path, digest = package.build_lambda_zip(Path(tmp), requirements=requirements)
            key = f"lambda/{digest}.zip"
            s3 = self.client("s3")
            try:
                with aws_errors():
                    s3.head_object(Bucket=bucket, Key=key)
                return key
            except ResourceNotFound:
                pass
            with aws_errors():
                s3.upload_file(str(path), bucket, key)
        return key

    def ensure_device_certificate(self, thing: str, policy: str) -> state.DeviceCredentials:
        """Reuse this machine's certificate if IoT still has it ACTIVE, else create one from a
        locally generated key, attach the policy and the thing, and store it (0600)."""
        iot = self.client("iot")
        try:
            creds = state.device_credentials(self.settings, self.options.stack_name)
            with aws_errors():
                status = iot.describe_certificate(certificateId=creds.certificate_id)["certificateDescription"]
            if status["status"] == "ACTIVE":
                return creds
        except ResourceNotFound:
            pass
        key_pem, csr_pem = _key_and_csr(thing)
        with aws_errors():
            cert = iot.create_certificate_from_csr(certificateSigningRequest=csr_pem, setAsActive=True)
            iot.attach_policy(policyName=policy, target=cert["certificateArn"])
            iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
        return state.save_device_credentials(
            self.settings,
            self.options.stack_name,
            cert_pem=cert["certificatePem"],
            key_pem=key_pem,
            client_id=thing,
            certificate_id=cert["certificateId"],
            certificate_arn=cert["certificateArn"],
        )

    def up(self) -> dict:
        """Package, create or update both stacks, make the device certificate, write the app
        configuration. Returns a summary without secrets. Raises DeployFailed/domain errors."""
        name = self.options.stack_name
        with aws_errors():
            account = self.client("sts").get_caller_identity()["Account"]
        artifacts = self.ensure_stack(artifacts_stack_name(name), load_template(ARTIFACTS_TEMPLATE_FILE), {})
        bucket = self.outputs(artifacts)["ArtifactsBucket"]
        code_key = self.upload_code(bucket)
        params = {
            "LambdaCodeBucket": bucket,
            "LambdaCodeKey": code_key,
            "CollectionId": self.settings.collection,
            "DeviceId": self.settings.device_id,
            "TopicPrefix": self.settings.topic_prefix,
            # S3 expires by whole days: keep captures at least as long as the app's retention.
            "PhotosRetentionDays": max(1, math.ceil(self.settings.retention_match_hours / 24)),
            "LogsRetentionDays": max(1, math.ceil(self.settings.retention_log_days)),
            **self.options.parameters,
        }
        stack = self.ensure_stack(name, render_template(), params, template_bucket=bucket)
        out = self.outputs(stack)
        creds = self.ensure_device_certificate(out["ThingName"], out["IotPolicyName"])
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
            "lambda_code": code_key,
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

    def delete_device_certificates(self, thing: str) -> list[str]:
        """Detach and delete every certificate attached to ``thing``; return their ids."""
        iot = self.client("iot")
        removed = []
        try:
            with aws_errors():
                principals = iot.list_thing_principals(thingName=thing)["principals"]
        except ResourceNotFound:
            return removed
        for arn in principals:
            cert_id = arn.rsplit("/", 1)[-1]
            with aws_errors():
                for policy in iot.list_attached_policies(target=arn).get("policies", []):
                    iot.detach_policy(policyName=policy["policyName"], target=arn)
                iot.detach_thing_principal(thingName=thing, principal=arn)
                iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
                iot.delete_certificate(certificateId=cert_id, forceDelete=True)
            removed.append(cert_id)
        return removed

    def _delete_stack(self, name: str, buckets: list[str]) -> str:
        stack = self._describe(name)
        if stack is None:
            return "NOT_DEPLOYED"
        # Firehose or a late IoT rule may write after the first emptying: empty and retry once.
        for attempt in (1, 2):
            for bucket in buckets:
                self.empty_bucket(bucket)
            with aws_errors():
                self.client("cloudformation").delete_stack(StackName=name)
            try:
                self._wait(name, "stack_delete_complete")
                return "DELETED"
            except DeployFailed:
                if attempt == 2:
                    raise
        return "DELETED"

    def down(self) -> dict:
        """Remove everything: bucket contents (all versions), the device certificates, both
        stacks, and this machine's certificate files and app configuration."""
        name = self.options.stack_name
        out = self.outputs(self._describe(name))
        removed_certs = self.delete_device_certificates(out["ThingName"]) if "ThingName" in out else []
        main = self._delete_stack(name, [out[k] for k in _BUCKET_OUTPUTS if k in out])
        art_out = self.outputs(self._describe(artifacts_stack_name(name)))
        artifacts = self._delete_stack(
            artifacts_stack_name(name), [art_out["ArtifactsBucket"]] if "ArtifactsBucket" in art_out else []
        )
        state.remove_local_state(self.settings, name)
        config_removed = state.remove_app_config(self.secrets_file)
        return {
            "stack": name,
            "main": main,
            "artifacts": artifacts,
            "certificates_deleted": removed_certs,
            "app_config_removed": config_removed,
        }


def _key_and_csr(common_name: str) -> tuple[bytes, str]:
    """A new EC P-256 private key (PEM, unencrypted; stored 0600) and its CSR (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()
