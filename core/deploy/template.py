"""The CloudFormation template as deployed: ``deploy/template.yaml`` with the REST API body
built from the OpenAPI contract ``deploy/openapi.yaml``.

The OpenAPI document stays the one contract (the local server is tested against it); this
module adds only what API Gateway needs to run it: a Lambda proxy integration per route,
the API-key source, CORS on API Gateway's own error responses, and a deployment whose
logical id changes with the body so that a changed API is redeployed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import yaml

from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = ROOT / "deploy"
TEMPLATE_FILE = DEPLOY_DIR / "template.yaml"
ARTIFACTS_TEMPLATE_FILE = DEPLOY_DIR / "artifacts.yaml"
OPENAPI_FILE = DEPLOY_DIR / "openapi.yaml"

BODY_PLACEHOLDER = "OPENAPI_FROM_deploy/openapi.yaml"
DEPLOYMENT_ID = "WebApiDeployment"
# Route (first path segment) -> the template's Lambda function that serves it.
ROUTE_FUNCTIONS = {"search": "SearchFunction", "analyze": "AnalyzeFunction"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
API_KEY_HEADER = "x-api-key"

# The course's contract, used only while deploy/openapi.yaml does not exist yet.
_COURSE_CONTRACT = {
    "openapi": "3.0.3",
    "info": {"title": "FaceGate Web API (course contract)", "version": "1"},
    "paths": {
        f"/{route}": {
            "post": {"operationId": route, "security": [{"api_key": []}], "responses": {"200": {"description": "OK"}}}
        }
        for route in ROUTE_FUNCTIONS
    },
    "components": {"securitySchemes": {"api_key": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}}},
}


# libyaml's loader when the wheel has it (5-10x faster than the pure-Python one).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[misc,valid-type]  # the base is chosen at import
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...)."""


def _tag(name: str):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if name == "Ref" else name: value}

    return construct


for _short in (
    "Ref",
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "Split",
    "If",
    "Not",
    "Equals",
    "And",
    "Or",
    "FindInMap",
    "Base64",
    "Cidr",
    "ImportValue",
    "GetAZs",
    "Condition",
):
    _CfnLoader.add_constructor(f"!{_short}", _tag(_short if _short in ("Ref", "Condition") else f"Fn::{_short}"))


def load_template(path: Path = TEMPLATE_FILE) -> dict:
    """Parse a CloudFormation YAML template into plain dicts (short tags expanded)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (safe loader subclass)


def load_openapi(path: Path = OPENAPI_FILE) -> dict:
    """The OpenAPI contract, or the course's two routes when the file does not exist."""
    if not Path(path).is_file():
        return copy.deepcopy(_COURSE_CONTRACT)
    try:
        doc = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ConfigError(f"{path} has no 'paths'")
    return doc


def _integration(function_id: str) -> dict:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",  # Lambda is always invoked with POST, whatever the route's method
        "passthroughBehavior": "when_no_match",
        "uri": {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
            f"${{{function_id}.Arn}}/invocations"
        },
    }


def _api_key_scheme(doc: dict) -> str:
    """Name of the header API-key security scheme, added when the contract lacks one."""
    schemes = doc.setdefault("components", {}).setdefault("securitySchemes", {})
    for name, scheme in schemes.items():
        if (
            scheme.get("type") == "apiKey"
            and scheme.get("in") == "header"
            and str(scheme.get("name", "")).lower() == API_KEY_HEADER
        ):
            return name
    schemes["api_key"] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    return "api_key"


def api_gateway_body(doc: dict) -> dict:
    """The OpenAPI document API Gateway imports: ``doc`` plus Lambda proxy integrations.
    Raises ConfigError when a route has no Lambda function in the template."""
    body = copy.deepcopy(doc)
    body.pop("servers", None)  # API Gateway would turn a server URL's path into a base path
    key_scheme = _api_key_scheme(body)
    body.setdefault("security", [{key_scheme: []}])  # the course: API key required
    for path, item in body["paths"].items():
        route = path.strip("/").split("/", 1)[0]
        function_id = ROUTE_FUNCTIONS.get(route)
        if function_id is None:
            raise ConfigError(
                f"{OPENAPI_FILE.name}: route {path} has no Lambda function; add one to "
                "deploy/template.yaml and ROUTE_FUNCTIONS in core/deploy/template.py"
            )
        if "options" not in item:
            # Browsers send a CORS pre-flight without the API key; the handler answers it.
            item["options"] = {
                "summary": "CORS pre-flight",
                "security": [],
                "responses": {"200": {"description": "CORS headers"}},
            }
        item["options"].setdefault("security", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            given = item[method].setdefault("x-amazon-apigateway-integration", _integration(function_id))
            uri = json.dumps(given.get("uri"))
            if given.get("type") != "aws_proxy" or f"${{{function_id}.Arn}}" not in uri:
                raise ConfigError(
                    f"{OPENAPI_FILE.name}: {method.upper()} {path} must be an aws_proxy integration "
                    f"of {function_id}, not {uri}"
                )
    body["x-amazon-apigateway-api-key-source"] = "HEADER"
    cors = {
        "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
        "gatewayresponse.header.Access-Control-Allow-Headers": "'Content-Type,X-Api-Key'",
    }
    body.setdefault(
        "x-amazon-apigateway-gateway-responses",
        {"DEFAULT_4XX": {"responseParameters": cors}, "DEFAULT_5XX": {"responseParameters": cors}},
    )
    return body


def _rename_refs(node, old: str, new: str):
    if isinstance(node, dict):
        if node.get("Ref") == old and len(node) == 1:
            return {"Ref": new}
        return {k: _rename_refs(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, old, new) for v in node]
    return node


def render_template(template_path: Path = TEMPLATE_FILE, openapi_path: Path = OPENAPI_FILE) -> dict:
    """The main stack's template, ready to deploy. Raises ConfigError."""
    template = load_template(template_path)
    resources = template["Resources"]
    api = resources["WebApi"]["Properties"]
    if api.get("Body") != BODY_PLACEHOLDER:
        raise ConfigError(f"{template_path}: WebApi.Body must be the placeholder {BODY_PLACEHOLDER!r}")
    body = api_gateway_body(load_openapi(openapi_path))
    api["Body"] = body
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    new_id = f"{DEPLOYMENT_ID}{digest}"
    resources[new_id] = resources.pop(DEPLOYMENT_ID)
    template["Resources"] = _rename_refs(resources, DEPLOYMENT_ID, new_id)
    return template


def template_json(template: dict) -> str:
    """Compact JSON (CloudFormation accepts JSON; YAML short tags are already expanded)."""
    return json.dumps(template, separators=(",", ":"), sort_keys=False)
