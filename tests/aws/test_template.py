"""deploy/template.yaml as deployed (REST API body filled in from the OpenAPI contract):
cfn-lint clean, every resource the issue lists, least privilege, encryption, no public access."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.deploy import template as tpl

# The console script installed beside this interpreter (requirements-dev.txt).
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


@pytest.fixture(scope="module")
def rendered() -> dict:
    return tpl.render_template()


@pytest.fixture(scope="module")
def resources(rendered) -> dict:
    return rendered["Resources"]


def of_type(resources: dict, kind: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_cfn_lint_passes_on_both_templates(rendered, tmp_path):
    path = tmp_path / "rendered.json"
    path.write_text(tpl.template_json(rendered))
    done = subprocess.run(
        [CFN_LINT, str(path), str(tpl.ARTIFACTS_TEMPLATE_FILE)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_catches_a_broken_template(rendered, tmp_path):
    broken = json.loads(json.dumps(rendered))
    broken["Resources"]["SensorTable"]["Properties"]["BillingMode"] = "FREE_FOREVER"
    path = tmp_path / "broken.json"
    path.write_text(tpl.template_json(broken))
    done = subprocess.run([CFN_LINT, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "FREE_FOREVER" in done.stdout


def test_every_listed_resource_is_there(resources):
    counts = {}
    for r in resources.values():
        counts[r["Type"]] = counts.get(r["Type"], 0) + 1
    expected = {
        "AWS::S3::Bucket": 3,
        "AWS::Rekognition::Collection": 1,
        "AWS::DynamoDB::Table": 1,
        "AWS::IoT::Thing": 1,
        "AWS::IoT::Policy": 1,
        "AWS::IoT::TopicRule": 4,
        "AWS::KinesisFirehose::DeliveryStream": 1,
        "AWS::Lambda::Function": 2,
        "AWS::ApiGateway::RestApi": 1,
        "AWS::ApiGateway::ApiKey": 1,
        "AWS::ApiGateway::UsagePlan": 1,
        "AWS::ApiGateway::UsagePlanKey": 1,
        "AWS::ApiGateway::Stage": 1,
        "AWS::ApiGateway::Deployment": 1,
        "AWS::Glue::Database": 1,
        "AWS::Glue::Table": 1,
        "AWS::Athena::WorkGroup": 1,
        "AWS::QuickSight::DataSource": 1,
        "AWS::QuickSight::DataSet": 1,
        "AWS::QuickSight::Dashboard": 1,
    }
    assert {k: counts.get(k, 0) for k in expected} == expected


def _statements(resources):
    for name, r in resources.items():
        props = r.get("Properties", {})
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            docs.append(props["PolicyDocument"])
        for doc in docs:
            for st in doc["Statement"]:
                yield name, st


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_wildcard_action_on_wildcard_resource(resources):
    statements = list(_statements(resources))
    assert len(statements) > 15
    for name, st in statements:
        if st["Effect"] != "Allow":
            continue
        actions = _as_list(st["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), (name, st)
        if st.get("Resource") == "*":
            # Only actions AWS offers no resource-level permission for.
            assert actions == ["rekognition:DetectFaces"], (name, st)


def test_the_checker_would_see_a_wildcard(resources):
    bad = {
        "X": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Policies": [{"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]
            },
        }
    }
    with pytest.raises(AssertionError):
        test_no_wildcard_action_on_wildcard_resource({**resources, **bad})


def test_buckets_are_encrypted_private_and_expire_what_they_should(resources):
    buckets = of_type(resources, "AWS::S3::Bucket")
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in of_type(resources, "AWS::S3::BucketPolicy").values()}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        algo = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert algo["SSEAlgorithm"] in ("AES256", "aws:kms"), name
        assert all(
            props["PublicAccessBlockConfiguration"][k] is True
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ), name
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        assert props["LifecycleConfiguration"]["Rules"], name
        deny = policies[name]["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    photos = buckets["PhotosBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert photos["ExpirationInDays"] == {"Ref": "PhotosRetentionDays"}
    # Registered faces are never expired by a rule: only deleting the person removes them.
    faces_rules = buckets["FacesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert not any("ExpirationInDays" in r for r in faces_rules)
    assert resources["SensorTable"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert resources["AnalysisLogStream"]["Properties"]["DeliveryStreamEncryptionConfigurationInput"]


def test_sensor_table_keys_are_the_courses(resources):
    props = resources["SensorTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "DeviceID", "KeyType": "HASH"},
        {"AttributeName": "Datetime", "KeyType": "RANGE"},
    ]


def test_iot_policy_connects_as_the_thing_and_publishes_only_under_the_prefix(resources):
    statements = resources["DevicePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {a for st in statements for a in _as_list(st["Action"])} == {"iot:Connect", "iot:Publish"}
    connect = next(st for st in statements if st["Action"] == "iot:Connect")
    assert all(r["Fn::Sub"].endswith(("client/${DeviceThing}", "client/${DeviceThing}-*")) for r in connect["Resource"])
    publish = next(st for st in statements if st["Action"] == "iot:Publish")
    assert publish["Resource"]["Fn::Sub"].endswith(":topic/${TopicPrefix}/*")


def test_the_four_topic_rules_route_as_the_course(resources):
    rules = {
        r["Properties"]["TopicRulePayload"]["Sql"]["Fn::Sub"]: r["Properties"]["TopicRulePayload"]
        for r in of_type(resources, "AWS::IoT::TopicRule").values()
    }
    sensor = rules["SELECT * FROM '${TopicPrefix}/sensorLogData'"]
    assert sensor["Actions"][0]["DynamoDBv2"]["PutItem"] == {"TableName": {"Ref": "SensorTable"}}
    auth = rules["SELECT * FROM '${TopicPrefix}/authLogData'"]["Actions"][0]["S3"]
    assert auth["Key"].endswith("-auth-log-data.json") and "${timestamp()}" in auth["Key"]
    door = rules["SELECT * FROM '${TopicPrefix}/doorOpenLogData'"]["Actions"][0]["S3"]
    assert door["Key"].endswith("-door-open-log-data.json")
    analysis = rules["SELECT * FROM '${TopicPrefix}/analysisLogData'"]["Actions"][0]["Firehose"]
    assert analysis["Separator"] == "\n" and analysis["DeliveryStreamName"] == {"Ref": "AnalysisLogStream"}
    assert all("ErrorAction" in rule for rule in rules.values())
    hints = resources["AnalysisLogStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]
    assert hints == {"IntervalInSeconds": 60, "SizeInMBs": 5}


def test_glue_table_has_the_courses_athena_columns(resources):
    table = resources["AnalysisLogTable"]["Properties"]["TableInput"]["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in table["Columns"]] == [
        ("datetime", "timestamp"),
        ("agerange-low", "smallint"),
        ("agerange-high", "smallint"),
        ("gender", "string"),
        ("smile", "boolean"),
        ("eyeglasses", "boolean"),
        ("sunglasses", "boolean"),
        ("beard", "boolean"),
        ("mustache", "boolean"),
        ("eyesopen", "boolean"),
        ("mouthopen", "boolean"),
    ]
    assert table["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"


def test_usage_plan_defaults_are_the_courses(rendered, resources):
    plan = resources["WebApiUsagePlan"]["Properties"]
    assert plan["Throttle"] == {"RateLimit": {"Ref": "ApiRateLimit"}, "BurstLimit": {"Ref": "ApiBurstLimit"}}
    assert plan["Quota"] == {"Limit": {"Ref": "ApiMonthlyQuota"}, "Period": "MONTH"}
    params = rendered["Parameters"]
    assert (
        params["ApiRateLimit"]["Default"],
        params["ApiBurstLimit"]["Default"],
        params["ApiMonthlyQuota"]["Default"],
    ) == (50, 200, 2000)


def test_lambda_handlers_exist_and_roles_are_their_own(resources):
    for name, fn in of_type(resources, "AWS::Lambda::Function").items():
        module, func = fn["Properties"]["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), func)), name
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        assert resources[role]["Type"] == "AWS::IAM::Role"
        assert "ManagedPolicyArns" not in resources[role]["Properties"]
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["FACEGATE_BACKEND"] == "aws"
        assert not {"FACEGATE_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)


def test_api_body_is_the_openapi_contract_with_lambda_integrations(resources):
    body = resources["WebApi"]["Properties"]["Body"]
    contract = tpl.load_openapi()
    assert set(contract["paths"]) <= set(body["paths"])
    for path, item in body["paths"].items():
        for method, op in item.items():
            if method not in tpl.HTTP_METHODS:
                continue
            uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            assert op["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
            assert f"${{{tpl.ROUTE_FUNCTIONS[path.strip('/').split('/')[0]]}.Arn}}" in uri
            if method == "options":
                assert op["security"] == []  # pre-flight carries no key
    scheme = body["components"]["securitySchemes"]
    assert any(s["type"] == "apiKey" and s["name"].lower() == "x-api-key" for s in scheme.values())
    assert body["x-amazon-apigateway-api-key-source"] == "HEADER"


def test_a_changed_api_gets_a_new_deployment(tmp_path):
    doc = tpl.load_openapi()
    first = tpl.render_template()
    doc["info"]["version"] = str(doc["info"].get("version", "")) + "-changed"
    changed = tmp_path / "openapi.yaml"
    changed.write_text(json.dumps(doc))
    second = tpl.render_template(openapi_path=changed)
    dep = lambda t: [k for k, v in t["Resources"].items() if v["Type"] == "AWS::ApiGateway::Deployment"]  # noqa: E731
    assert dep(first) != dep(second)
    stage = second["Resources"]["WebApiStage"]["Properties"]["DeploymentId"]
    assert stage == {"Ref": dep(second)[0]}


def test_a_route_without_a_function_is_refused(tmp_path):
    from core.errors import ConfigError

    doc = tpl.load_openapi()
    doc["paths"]["/enrol"] = {"post": {"responses": {"200": {"description": "ok"}}}}
    path = tmp_path / "openapi.yaml"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="/enrol"):
        tpl.render_template(openapi_path=path)


def test_an_integration_pointing_at_the_wrong_function_is_refused(tmp_path):
    from core.errors import ConfigError

    doc = tpl.api_gateway_body(tpl.load_openapi())
    doc["paths"]["/search"]["post"]["x-amazon-apigateway-integration"] = tpl._integration("AnalyzeFunction")
    path = tmp_path / "openapi.yaml"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="SearchFunction"):
        tpl.render_template(openapi_path=path)


def test_the_deploying_users_policy_covers_every_service_without_wildcard_actions(rendered):
    from core.deploy.policies import DEPLOYER_POLICY_FILES

    statements = [st for path in DEPLOYER_POLICY_FILES for st in json.loads(path.read_text())["Statement"]]
    actions = [a for st in statements for a in _as_list(st["Action"])]
    assert not [a for a in actions if "*" in a]
    services = {a.split(":")[0] for a in actions}
    prefix = {"ApiGateway": "apigateway", "KinesisFirehose": "firehose", "Logs": "logs", "IAM": "iam"}
    for r in {**rendered["Resources"], **tpl.load_template(tpl.ARTIFACTS_TEMPLATE_FILE)["Resources"]}.values():
        kind = r["Type"].split("::")[1]
        assert prefix.get(kind, kind.lower()) in services, r["Type"]
    # What deploy up / down call outside CloudFormation.
    assert {
        "iot:CreateCertificateFromCsr",
        "iot:DeleteCertificate",
        "iot:DescribeEndpoint",
        "s3:DeleteObjectVersion",
        "s3:ListBucketVersions",
    } <= set(actions)


def _covers(rule: dict, key: str) -> bool:
    prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", ""))
    return key.startswith(prefix)


def test_the_current_code_zip_never_expires_only_previous_versions_do():
    from core.deploy.stack import CODE_KEY

    bucket = tpl.load_template(tpl.ARTIFACTS_TEMPLATE_FILE)["Resources"]["ArtifactsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled" and _covers(r, CODE_KEY)]
    assert rules and not [r for r in rules if "ExpirationInDays" in r or "ExpirationDate" in r]
    assert any(r["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 7 for r in rules)  # room for a rollback
    for fn in of_type(tpl.render_template()["Resources"], "AWS::Lambda::Function").values():
        assert fn["Properties"]["Code"]["S3ObjectVersion"] == {"Ref": "LambdaCodeVersion"}


def test_names_that_must_be_unique_in_an_account_derive_from_the_stack_name(rendered, resources):
    params = rendered["Parameters"]
    assert params["CollectionId"]["Default"] == "" and params["GlueDatabaseName"]["Default"] == ""
    assert resources["FaceCollection"]["Properties"]["CollectionId"] == {
        "Fn::If": ["CollectionIdGiven", {"Ref": "CollectionId"}, {"Ref": "AWS::StackName"}]
    }
    name = resources["LogsDatabase"]["Properties"]["DatabaseInput"]["Name"]
    assert name["Fn::If"][2] == {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}
    for fn in of_type(resources, "AWS::Lambda::Function").values():
        assert fn["Properties"]["Environment"]["Variables"]["FACEGATE_COLLECTION"] == {"Ref": "FaceCollection"}
    # every other account-wide name is CloudFormation-generated or carries ${AWS::StackName}
    names = ("Name", "ThingName", "PolicyName", "RoleName", "FunctionName", "TableName", "BucketName")
    names += ("LogGroupName", "DeliveryStreamName", "RuleName", "DataSetId", "DataSourceId", "DashboardId")
    for logical, r in resources.items():
        props = r.get("Properties", {})
        for key in names:
            value = props.get(key)
            if value is not None and not (isinstance(value, dict) and "Ref" in value):  # a Ref names another
                assert "AWS::StackName" in json.dumps(value), (logical, key, value)


def test_the_template_alone_deploys_two_stacks_side_by_side(account):
    """Deployed by hand (no parameters for the names), two stacks still do not collide."""
    from tests.aws.fakes import code_zip

    s3 = account.session.client("s3", region_name="ap-northeast-1")
    s3.create_bucket(Bucket="code", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    s3.put_bucket_versioning(Bucket="code", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="code", Key="c.zip", Body=code_zip({"x.py": ""}))["VersionId"]
    from core.deploy import policies  # the documented one-time step: the role boundary exists

    account.session.client("iam", region_name="ap-northeast-1").create_policy(
        PolicyName=policies.BOUNDARY_POLICY_NAME, PolicyDocument=json.dumps(policies.boundary_policy())
    )
    cfn = account.cf.client()
    body = tpl.template_json(tpl.render_template())
    for stack in ("facegate-a", "facegate-b"):
        cfn.create_stack(
            StackName=stack,
            TemplateBody=body,
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[
                {"ParameterKey": "LambdaCodeBucket", "ParameterValue": "code"},
                {"ParameterKey": "LambdaCodeKey", "ParameterValue": "c.zip"},
                {"ParameterKey": "LambdaCodeVersion", "ParameterValue": version},
            ],
        )
        assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE", stack
    assert sorted(account.cf.collections) == ["facegate-a", "facegate-b"]
    glue = account.session.client("glue", region_name="ap-northeast-1")
    assert sorted(d["Name"] for d in glue.get_databases()["DatabaseList"]) == ["facegate_a", "facegate_b"]
