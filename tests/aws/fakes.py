"""Stand-ins for the parts of AWS that moto does not run faithfully, built on moto.

- ``FakeCloudFormation``: CloudFormation's stack lifecycle (create, rollback on failure,
  update with in-place changes or replacement, cleanup, delete and DELETE_FAILED, events,
  outputs, ListStackResources) for FaceGate's two templates. moto's own CloudFormation lacks
  half of our resource types (Rekognition collection, IoT topic rules, Firehose, Glue, Athena,
  API Gateway stages/keys/usage plans, QuickSight) and has no failure semantics at all
  (a failing resource raises from CreateStack instead of rolling back). Every resource is
  created through moto's own service API, so IoT's real refusals (a policy with a certificate
  attached, a thing with a principal attached) and S3's (a bucket that is not empty) happen
  here as they do in AWS. Rekognition collections and QuickSight assets, which moto does not
  implement, are kept in this fake's own registry. Which properties force a replacement is
  read from the resource schemas cfn-lint ships (``createOnlyProperties``).
- ``intercept`` / ``fail_once``: answer or fail one operation of a real (moto-bound) boto3
  client, through botocore's own ``before-call`` hook (the mechanism Stubber uses), so the
  code under test gets a genuine ``ClientError``.
- ``EventualDetach``: IoT's ``DetachThingPrincipal`` is asynchronous in AWS (documented);
  moto detaches at once. This makes a detachment take effect only after a few listings.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import random
import re
import string
import urllib.parse
import uuid
import zipfile

import botocore.awsrequest

ACCOUNT = "123456789012"
SCHEMAS = None


# ---------------------------------------------------------------------------- client hooks
class AwsError(Exception):
    """Raised by a fake operation: becomes the ClientError AWS would send."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _http(status: int):
    return botocore.awsrequest.AWSResponse("https://fake.invalid", status, {}, None)


def intercept(client, handler) -> None:
    """Route every call of ``client`` through ``handler(operation, params)``: a dict is the
    answer, ``None`` lets the call through (to the handler installed before, then moto),
    ``AwsError`` becomes a ClientError. The handler installed last is asked first, so a
    fault injected in a test wins over a stand-in installed by a fixture."""
    handlers = getattr(client, "_fake_handlers", None)
    if handlers is not None:
        handlers.insert(0, handler)
        return
    handlers = client._fake_handlers = [handler]

    def stash(params, context, **_):
        context["fake_params"] = dict(params)  # shallow: a Body may be an open file

    def call(model, context, **_):
        for one in list(handlers):
            try:
                answer = one(model.name, context.get("fake_params", {}))
            except AwsError as exc:
                return _http(exc.status), {
                    "Error": {"Code": exc.code, "Message": exc.message},
                    "ResponseMetadata": {"HTTPStatusCode": exc.status},
                }
            if answer is not None:
                answer.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())})
                return _http(200), answer
        return None

    client.meta.events.register("before-parameter-build.*.*", stash)
    client.meta.events.register_first("before-call.*.*", call)


def fail_once(client, operation: str, *, code="InjectedFault", message=None, times=1, when=None) -> dict:
    """Make ``operation`` on ``client`` fail ``times`` times (when ``when(params)`` is true);
    returns a dict whose ``"left"`` counts the failures still to come."""
    state = {"left": times}

    def handler(op, params):
        if op == operation and state["left"] > 0 and (when is None or when(params)):
            state["left"] -= 1
            raise AwsError(code, message or f"{operation} failed (injected fault)")
        return None

    intercept(client, handler)
    return state


class EventualDetach:
    """DetachThingPrincipal answers at once but takes effect only after ``lag`` listings of
    the thing's or the principal's attachments (ListThingPrincipals / ListPrincipalThings),
    as AWS documents it to be asynchronous. Until then DeleteThing and DeleteCertificate are
    refused by moto exactly as AWS refuses them."""

    def __init__(self, client, raw_client, lag: int = 2):
        self.raw, self.lag, self.pending = raw_client, lag, {}
        intercept(client, self._handle)
        client.meta.events.register("after-call.iot.ListThingPrincipals", self._show_thing)
        client.meta.events.register("after-call.iot.ListThingPrincipalsV2", self._show_thing)
        client.meta.events.register("after-call.iot.ListPrincipalThings", self._show_principal)

    def _tick(self):
        for key in list(self.pending):
            self.pending[key] -= 1
            if self.pending[key] <= 0:
                del self.pending[key]
                self.raw.detach_thing_principal(thingName=key[0], principal=key[1])

    def _handle(self, op, params):
        if op == "DetachThingPrincipal":
            key = (params["thingName"], params["principal"])
            if key not in self.pending:
                self.raw.list_thing_principals(thingName=key[0])  # not found -> moto's own error
                attached = self.raw.list_principal_things(principal=key[1])["things"]
                if key[0] not in attached:
                    raise AwsError("ResourceNotFoundException", "the principal is not attached to the thing")
                self.pending[key] = self.lag
            return {}
        if op in ("ListThingPrincipals", "ListThingPrincipalsV2", "ListPrincipalThings"):
            self._tick()
        return None

    def _show_thing(self, parsed, context, **_):
        thing = context.get("fake_params", {}).get("thingName")
        for t, principal in self.pending:
            if t == thing and "principals" in parsed and principal not in parsed["principals"]:
                parsed["principals"].append(principal)

    def _show_principal(self, parsed, context, **_):
        principal = context.get("fake_params", {}).get("principal")
        for thing, p in self.pending:
            if p == principal and "things" in parsed and thing not in parsed["things"]:
                parsed["things"].append(thing)


class CertificatesFromCsr:
    """IoT's CreateCertificateFromCsr signs the CSR's own public key; moto's makes up a new
    RSA key instead, so nothing could match a certificate to the key it was made from. This
    answers the call as IoT does: a certificate for the CSR's key, signed by a test CA and
    registered in moto (``RegisterCertificateWithoutCA``) so every other IoT call sees it."""

    def __init__(self, client, raw_client):
        from cryptography.hazmat.primitives.asymmetric import ec

        self.raw = raw_client
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        intercept(client, self._handle)

    def _handle(self, op, params):
        if op != "CreateCertificateFromCsr":
            return None
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        csr = x509.load_pem_x509_csr(params["certificateSigningRequest"].encode())
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test IoT CA")])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(issuer)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(self.ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        out = self.raw.register_certificate_without_ca(
            certificatePem=pem, status="ACTIVE" if params.get("setAsActive") else "INACTIVE"
        )
        return {"certificateArn": out["certificateArn"], "certificateId": out["certificateId"], "certificatePem": pem}


# ---------------------------------------------------------------------------- schemas
def _schemas() -> tuple[dict, str]:
    global SCHEMAS
    if SCHEMAS is None:
        import cfnlint

        base = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
        with open(os.path.join(base, "providers", "ap-northeast-1.json"), encoding="utf-8") as f:
            SCHEMAS = (json.load(f), base)
    return SCHEMAS


@functools.lru_cache
def resource_schema(kind: str) -> dict:
    """The CloudFormation resource schema of ``kind`` as bundled with cfn-lint."""
    index, base = _schemas()
    with open(os.path.join(base, "resources", f"{index[kind]}.json"), encoding="utf-8") as f:
        return json.load(f)


def _create_only(kind: str) -> list[list[str]]:
    return [p.split("/")[2:] for p in resource_schema(kind).get("createOnlyProperties", [])]


def _at(props: dict, path: list[str]):
    for part in path:
        if not isinstance(props, dict):
            return None
        props = props.get(part)
    return props


# ---------------------------------------------------------------------------- the engine
def _now():
    return dt.datetime.now(dt.UTC)


def _suffix(rng: random.Random, n: int = 13) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))


class _Resource:
    def __init__(self, kind, physical, attrs, props):
        self.kind, self.physical, self.attrs, self.props = kind, physical, attrs, props
        self.status = "CREATE_COMPLETE"


class _Stack:
    def __init__(self, name: str, region: str):
        self.name = name
        self.id = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}"
        self.status = "CREATE_IN_PROGRESS"
        self.created = _now()
        self.template: dict = {}
        self.params: dict = {}
        self.resources: dict[str, _Resource] = {}
        self.outputs: dict = {}
        self.events: list = []
        self.tags: list = []
        self.capabilities: list = []


class StackFailure(Exception):
    pass


class FakeCloudFormation:
    """CloudFormation for one moto account. ``client()`` is a boto3 CloudFormation client
    whose calls this class answers (requests are still validated by botocore)."""

    def __init__(self, session, region: str):
        self.session, self.region = session, region
        self.stacks: list[_Stack] = []
        self.collections: dict[str, str] = {}  # Rekognition (moto has none): id -> arn
        self.quicksight: dict[str, dict] = {}  # arn -> properties (moto cannot delete them)
        self.bucket_policies: dict[str, dict] = {}  # bucket -> policy (see _BucketPolicy)
        self.faults: dict[tuple[str, str], list] = {}  # (logical id, action) -> [reason, times]
        self.ingestion_fails = False  # SPICE ingestion of every data set fails
        self.rng = random.Random(7)
        self._clients: dict = {}
        self.calls: list[str] = []

    # -- public helpers for tests
    def client(self):
        client = self.session.client("cloudformation", region_name=self.region)
        intercept(client, self._operation)
        return client

    def fail(self, logical_id: str, action: str = "create", reason: str = "injected failure", times: int = 1) -> None:
        """The next ``times`` ``action``s (create/update/delete) of ``logical_id`` fail."""
        self.faults[(logical_id, action)] = [reason, times]

    def _fault(self, logical_id: str, action: str) -> str | None:
        fault = self.faults.get((logical_id, action))
        if not fault:
            return None
        fault[1] -= 1
        if fault[1] <= 0:
            del self.faults[(logical_id, action)]
        return fault[0]

    def live_stacks(self) -> list[str]:
        return [s.name for s in self.stacks if s.status != "DELETE_COMPLETE"]

    def aws(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    # -- API
    def _operation(self, op, params):
        self.calls.append(op)
        method = getattr(self, "_op_" + re.sub(r"(?<!^)([A-Z])", r"_\1", op).lower(), None)
        if method is None:
            raise AwsError("InvalidAction", f"the fake CloudFormation does not implement {op}")
        return method(params)

    def _find(self, name: str, live_only=True) -> _Stack:
        """By name only a stack that is not deleted (as AWS); by stack id any (``live_only``
        False), deleted ones included."""
        for stack in reversed(self.stacks):
            if stack.id == name and not live_only:
                return stack
            if stack.name == name and stack.status != "DELETE_COMPLETE":
                return stack
        raise AwsError("ValidationError", f"Stack with id {name} does not exist")

    def _describe(self, s: _Stack) -> dict:
        out = {
            "StackName": s.name,
            "StackId": s.id,
            "CreationTime": s.created,
            "StackStatus": s.status,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in s.params.items()],
            "Tags": s.tags,
            "Capabilities": s.capabilities,
        }
        if s.outputs:
            out["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in s.outputs.items()]
        return out

    def _op_describe_stacks(self, p):
        if "StackName" in p:
            return {"Stacks": [self._describe(self._find(p["StackName"], live_only=False))]}
        return {"Stacks": [self._describe(s) for s in self.stacks if s.status != "DELETE_COMPLETE"]}

    def _op_list_stacks(self, p):
        return {
            "StackSummaries": [
                {"StackName": s.name, "StackId": s.id, "CreationTime": s.created, "StackStatus": s.status}
                for s in self.stacks
            ]
        }

    def _op_describe_stack_events(self, p):
        return {"StackEvents": list(reversed(self._find(p["StackName"], live_only=False).events))}

    def _op_list_stack_resources(self, p):
        s = self._find(p["StackName"], live_only=False)
        return {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": logical,
                    "PhysicalResourceId": r.physical,
                    "ResourceType": r.kind,
                    "LastUpdatedTimestamp": _now(),
                    "ResourceStatus": r.status,
                }
                for logical, r in s.resources.items()
            ]
        }

    def _op_get_template(self, p):
        return {"TemplateBody": json.dumps(self._find(p["StackName"]).template)}

    def _template_of(self, p) -> dict:
        if "TemplateBody" in p:
            return json.loads(p["TemplateBody"])
        url = urllib.parse.urlparse(p["TemplateURL"])
        bucket, key = url.netloc.split(".s3", 1)[0], url.path.lstrip("/")
        body = self.aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)

    def _parameters(self, template: dict, given: list[dict], previous: dict | None = None) -> dict:
        values = {}
        supplied = {}
        for item in given:
            if item.get("UsePreviousValue"):
                supplied[item["ParameterKey"]] = (previous or {})[item["ParameterKey"]]
            else:
                supplied[item["ParameterKey"]] = item["ParameterValue"]
        declared = template.get("Parameters", {})
        unknown = set(supplied) - set(declared)
        if unknown:
            raise AwsError("ValidationError", f"Parameters: {sorted(unknown)} do not exist in the template")
        for name, spec in declared.items():
            if name in supplied:
                value = supplied[name]
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise AwsError("ValidationError", f"Parameters: [{name}] must have values")
            if spec.get("AllowedPattern") and not re.fullmatch(spec["AllowedPattern"], value):
                raise AwsError(
                    "ValidationError", f"Parameter {name} failed to satisfy constraint: {spec['AllowedPattern']}"
                )
            if spec.get("Type") == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise AwsError("ValidationError", f"Parameter '{name}' must be a number.") from None
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    raise AwsError("ValidationError", f"Parameter '{name}' must be a number not less than ...")
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                raise AwsError("ValidationError", f"Parameter '{name}' must be one of AllowedValues")
            values[name] = value
        return values

    @staticmethod
    def _check_capabilities(template, capabilities):
        iam = [r for r in template.get("Resources", {}).values() if r["Type"].startswith("AWS::IAM::")]
        named = [r for r in iam if "RoleName" in r.get("Properties", {})]
        if named and "CAPABILITY_NAMED_IAM" not in capabilities:
            raise AwsError("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]")
        if iam and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(capabilities):
            raise AwsError("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")

    def _op_create_stack(self, p):
        name = p["StackName"]
        if not re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", name):
            raise AwsError("ValidationError", f"1 validation error detected: Value '{name}' at 'stackName'")
        if any(s.name == name and s.status != "DELETE_COMPLETE" for s in self.stacks):
            raise AwsError("AlreadyExistsException", f"Stack [{name}] already exists")
        template = self._template_of(p)
        self._check_capabilities(template, p.get("Capabilities", []))
        params = self._parameters(template, p.get("Parameters", []))
        stack = _Stack(name, self.region)
        stack.template, stack.params, stack.tags = template, params, p.get("Tags", [])
        stack.capabilities = p.get("Capabilities", [])
        self.stacks.append(stack)
        self._event(stack, name, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", stack.id)
        try:
            self._apply(stack, template, params)
            stack.status = "CREATE_COMPLETE"
        except StackFailure:
            on_failure = p.get("OnFailure", "ROLLBACK")
            if on_failure == "DO_NOTHING":
                stack.status = "CREATE_FAILED"
            else:
                stack.status = "ROLLBACK_IN_PROGRESS"
                ok = self._delete_resources(stack)
                if on_failure == "DELETE" and ok:
                    stack.status = "DELETE_COMPLETE"
                else:
                    stack.status = "ROLLBACK_COMPLETE" if ok else "ROLLBACK_FAILED"
                stack.outputs = {}
        self._event(stack, name, "AWS::CloudFormation::Stack", stack.status, stack.id)
        return {"StackId": stack.id}

    def _op_update_stack(self, p):
        stack = self._find(p["StackName"])
        if stack.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
            raise AwsError("ValidationError", f"Stack:{stack.id} is in {stack.status} state and can not be updated.")
        template = stack.template if p.get("UsePreviousTemplate") else self._template_of(p)
        self._check_capabilities(template, p.get("Capabilities", []))
        params = self._parameters(template, p.get("Parameters", []), stack.params)
        if template == stack.template and params == stack.params:
            raise AwsError("ValidationError", "No updates are to be performed.")
        old_template, old_params = stack.template, stack.params
        old_resources = dict(stack.resources)
        stack.status = "UPDATE_IN_PROGRESS"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status, stack.id)
        try:
            replaced = self._apply(stack, template, params, previous=old_resources)
        except StackFailure:
            stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
            self._roll_back_update(stack, old_resources, old_template, old_params)
            stack.template, stack.params = old_template, old_params
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status, stack.id)
            return {"StackId": stack.id}
        stack.template, stack.params = template, params
        stack.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
        # Cleanup: replaced and removed resources, newest first. A failure here is only an
        # event (as in AWS): the stack still completes and the old resource is left behind.
        for logical, res in reversed(replaced):
            self._delete_one(stack, logical, res, cleanup=True)
            if logical not in template["Resources"]:
                stack.resources.pop(logical, None)  # removed from the template: no longer the stack's
        stack.status = "UPDATE_COMPLETE"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status, stack.id)
        return {"StackId": stack.id}

    def _op_delete_stack(self, p):
        try:
            stack = self._find(p["StackName"])
        except AwsError:
            return {}  # deleting a stack that does not exist succeeds
        if stack.status.endswith("_IN_PROGRESS"):
            raise AwsError("ValidationError", f"Stack {stack.name} is in {stack.status} state")
        stack.status = "DELETE_IN_PROGRESS"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status, stack.id)
        ok = self._delete_resources(stack)
        stack.status = "DELETE_COMPLETE" if ok else "DELETE_FAILED"
        if ok:
            stack.outputs = {}
        reason = "" if ok else f"The following resource(s) failed to delete: [{', '.join(sorted(stack.resources))}]. "
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status, stack.id, reason)
        return {}

    # -- template evaluation
    def _event(self, stack, logical, kind, status, physical="", reason=""):
        event = {
            "StackId": stack.id,
            "EventId": str(uuid.uuid4()),
            "StackName": stack.name,
            "LogicalResourceId": logical,
            "PhysicalResourceId": physical or "",
            "ResourceType": kind,
            "Timestamp": _now(),
            "ResourceStatus": status,
        }
        if reason:
            event["ResourceStatusReason"] = reason
        stack.events.append(event)

    def _conditions(self, template, ctx) -> dict:
        out = {}
        for name, expr in template.get("Conditions", {}).items():
            out[name] = bool(self._resolve(expr, {**ctx, "conditions": out}))
        return out

    def _context(self, stack, template, params) -> dict:
        ctx = {
            "params": params,
            "pseudo": {
                "AWS::StackName": stack.name,
                "AWS::StackId": stack.id,
                "AWS::Region": self.region,
                "AWS::AccountId": ACCOUNT,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NoValue": None,
            },
            "resources": stack.resources,
            "conditions": {},
        }
        ctx["conditions"] = self._conditions(template, ctx)
        return ctx

    def _ref(self, name, ctx):
        if name in ctx["params"]:
            return ctx["params"][name]
        if name in ctx["pseudo"]:
            return ctx["pseudo"][name]
        if name in ctx["resources"]:
            return ctx["resources"][name].physical
        raise StackFailure(f"unresolved Ref {name}")

    def _getatt(self, logical, attr, ctx):
        res = ctx["resources"].get(logical)
        if res is None or attr not in res.attrs:
            raise StackFailure(f"unresolved GetAtt {logical}.{attr}")
        return res.attrs[attr]

    def _sub(self, text, variables, ctx):
        def one(match):
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and inner.split(".", 1)[0] in ctx["resources"]:
                return str(self._getatt(*inner.split(".", 1), ctx))
            return str(self._ref(inner, ctx))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _resolve(self, node, ctx):
        if isinstance(node, list):
            return [v for v in (self._resolve(x, ctx) for x in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._ref(value, ctx)
            if key == "Fn::GetAtt":
                logical, attr = value if isinstance(value, list) else value.split(".", 1)
                return self._getatt(logical, attr, ctx)
            if key == "Fn::Sub":
                if isinstance(value, list):
                    return self._sub(value[0], self._resolve(value[1], ctx), ctx)
                return self._sub(value, {}, ctx)
            if key == "Fn::Join":
                return value[0].join(str(v) for v in self._resolve(value[1], ctx))
            if key == "Fn::Split":
                return self._resolve(value[1], ctx).split(value[0])
            if key == "Fn::Select":
                return self._resolve(value[1], ctx)[int(self._resolve(value[0], ctx))]
            if key == "Fn::If":
                branch = value[1] if ctx["conditions"][value[0]] else value[2]
                return self._resolve(branch, ctx)
            if key == "Fn::Equals":
                a, b = (self._resolve(v, ctx) for v in value)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._resolve(value[0], ctx)
            if key == "Fn::And":
                return all(self._resolve(v, ctx) for v in value)
            if key == "Fn::Or":
                return any(self._resolve(v, ctx) for v in value)
            if key == "Condition":
                return ctx["conditions"][value]
            if key.startswith("Fn::"):
                raise StackFailure(f"the fake CloudFormation does not implement {key}")
        out = {}
        for k, v in node.items():
            resolved = self._resolve(v, ctx)
            if resolved is not None:
                out[k] = resolved
        return out

    @staticmethod
    def _dependencies(node) -> set[str]:
        found = set()
        if isinstance(node, list):
            for x in node:
                found |= FakeCloudFormation._dependencies(x)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k == "Ref" and isinstance(v, str):
                    found.add(v)
                elif k == "Fn::GetAtt":
                    found.add(v[0] if isinstance(v, list) else v.split(".", 1)[0])
                elif k == "Fn::Sub":
                    text = v[0] if isinstance(v, list) else v
                    found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                    if isinstance(v, list):
                        found |= FakeCloudFormation._dependencies(v[1])
                else:
                    found |= FakeCloudFormation._dependencies(v)
        return found

    def _needs(self, spec: dict) -> set[str]:
        depends = spec.get("DependsOn", [])
        return self._dependencies(spec.get("Properties", {})) | set([depends] if isinstance(depends, str) else depends)

    def _order(self, template, conditions) -> list[str]:
        resources = {
            k: v for k, v in template["Resources"].items() if "Condition" not in v or conditions[v["Condition"]]
        }
        deps = {name: self._needs(res) & set(resources) for name, res in resources.items()}
        order, done = [], set()
        while len(order) < len(resources):
            ready = sorted(n for n in resources if n not in done and deps[n] <= done)
            if not ready:
                raise AwsError("ValidationError", "Circular dependency between resources")
            order += ready
            done |= set(ready)
        return order

    def _apply(self, stack, template, params, previous=None) -> list[tuple[str, _Resource]]:
        """Create (or update to) ``template``. Returns the resources to clean up afterwards.
        Raises StackFailure after recording the failed resource's event."""
        previous = previous or {}
        ctx = self._context(stack, template, params)
        order = self._order(template, ctx["conditions"])
        cleanup = [(k, r) for k, r in previous.items() if k not in order]
        for logical in order:
            spec = template["Resources"][logical]
            kind = spec["Type"]
            props = self._resolve(spec.get("Properties", {}), ctx)
            old = previous.get(logical)
            if old is not None and old.kind == kind and old.props == props:
                continue
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise AwsError("ValidationError", f"the fake CloudFormation cannot create {kind}")
            action = "create" if old is None else "update"
            if old is not None and any(_at(old.props, p) != _at(props, p) for p in _create_only(kind)):
                action = "replace"
            self._event(stack, logical, kind, f"{'CREATE' if action == 'create' else 'UPDATE'}_IN_PROGRESS")
            try:
                reason = self._fault(logical, "create" if action != "update" else "update")
                if reason:
                    raise AwsError("InjectedFault", reason)
                if action == "update":
                    attrs = handler.update(self, stack, logical, old, props) or old.attrs
                    res = _Resource(kind, old.physical, {**old.attrs, **attrs}, props)
                else:
                    physical, attrs = handler.create(self, stack, logical, props)
                    res = _Resource(kind, physical, attrs, props)
            except Exception as exc:  # any failure of a resource rolls the stack back
                message = getattr(exc, "message", None) or str(exc)
                if old is not None and action == "replace" and "already exists" in message:
                    message = (
                        "CloudFormation cannot update a stack when a custom-named resource requires "
                        f"replacing. Rename {message}"
                    )
                self._event(
                    stack, logical, kind, f"{'CREATE' if action != 'update' else 'UPDATE'}_FAILED", reason=message
                )
                raise StackFailure(message) from exc
            stack.resources[logical] = res
            if action == "replace":
                cleanup.append((logical, old))
            self._event(stack, logical, kind, f"{'CREATE' if action == 'create' else 'UPDATE'}_COMPLETE", res.physical)
        # Outputs
        stack.outputs = {}
        for key, out in template.get("Outputs", {}).items():
            if "Condition" in out and not ctx["conditions"][out["Condition"]]:
                continue
            stack.outputs[key] = str(self._resolve(out["Value"], ctx))
        return cleanup

    def _roll_back_update(self, stack, old_resources, old_template, old_params):
        current = dict(stack.resources)
        for logical, res in reversed(list(current.items())):
            old = old_resources.get(logical)
            if old is None or old.physical != res.physical:
                self._delete_one(stack, logical, res, cleanup=True)  # created during the update
            elif old.props != res.props:
                _HANDLERS[res.kind].update(self, stack, logical, res, old.props)
        stack.resources = dict(old_resources)
        ctx = self._context(stack, old_template, old_params)
        stack.outputs = {
            k: str(self._resolve(o["Value"], ctx))
            for k, o in old_template.get("Outputs", {}).items()
            if "Condition" not in o or ctx["conditions"][o["Condition"]]
        }

    def _delete_one(self, stack, logical, res, cleanup=False) -> bool:
        self._event(stack, logical, res.kind, "DELETE_IN_PROGRESS", res.physical)
        try:
            reason = self._fault(logical, "delete")
            if reason:
                raise AwsError("InjectedFault", reason)
            _HANDLERS[res.kind].delete(self, stack, res.physical, res.props)
        except Exception as exc:  # noqa: BLE001 - recorded as CloudFormation does
            error = getattr(exc, "response", {}).get("Error", {})
            message = f"{error.get('Code')}: {error.get('Message')}" if error else str(exc)
            res.status = "DELETE_FAILED"
            self._event(stack, logical, res.kind, "DELETE_FAILED", res.physical, message)
            return False
        if not cleanup:
            stack.resources.pop(logical, None)
        self._event(stack, logical, res.kind, "DELETE_COMPLETE", res.physical)
        return True

    def _delete_resources(self, stack) -> bool:
        """Delete in reverse dependency order; a resource whose dependants failed to go is
        kept (as CloudFormation does). True when nothing is left."""
        ctx_conditions = self._context(stack, stack.template, stack.params)["conditions"]
        try:
            order = self._order(stack.template, ctx_conditions)
        except AwsError:
            order = list(stack.resources)
        order = [k for k in order if k in stack.resources] + [k for k in stack.resources if k not in order]
        failed: set[str] = set()
        template_resources = stack.template.get("Resources", {})
        for logical in reversed(order):
            res = stack.resources.get(logical)
            if res is None:
                continue
            dependants = [k for k in failed if logical in self._needs(template_resources.get(k, {}))]
            if dependants:
                failed.add(logical)
                continue
            if not self._delete_one(stack, logical, res):
                failed.add(logical)
        return not stack.resources


# ---------------------------------------------------------------------------- resource types
def _name(stack, logical, rng, limit=64, lower=False, sep="-"):
    base = f"{stack.name}{sep}{logical}"[: limit - 14]
    out = f"{base}{sep}{_suffix(rng)}"
    return out.lower() if lower else out


def _lower_keys(node):
    """CloudFormation's PascalCase keys -> the IoT API's camelCase (``DynamoDBv2`` -> ``dynamoDBv2``)."""
    if isinstance(node, list):
        return [_lower_keys(v) for v in node]
    if isinstance(node, dict):
        return {k[0].lower() + k[1:]: _lower_keys(v) for k, v in node.items()}
    return node


class _Type:
    def create(self, cf, stack, logical, props):
        raise NotImplementedError

    def update(self, cf, stack, logical, old, props):
        # Default: every change of these types is an in-place property update we can ignore
        # for the account's inventory (names do not change).
        return None

    def delete(self, cf, stack, physical, props):
        raise NotImplementedError


class _Bucket(_Type):
    @staticmethod
    def _lifecycle(props):
        rules = []
        for r in props.get("LifecycleConfiguration", {}).get("Rules", []):
            rule = {"ID": r.get("Id", "rule"), "Status": r["Status"], "Filter": {"Prefix": r.get("Prefix", "")}}
            if "ExpirationInDays" in r:
                rule["Expiration"] = {"Days": int(r["ExpirationInDays"])}
            if "ExpiredObjectDeleteMarker" in r:
                rule.setdefault("Expiration", {})["ExpiredObjectDeleteMarker"] = r["ExpiredObjectDeleteMarker"]
            if "NoncurrentVersionExpiration" in r:
                rule["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": int(r["NoncurrentVersionExpiration"]["NoncurrentDays"])
                }
            if "NoncurrentVersionExpirationInDays" in r:
                rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(r["NoncurrentVersionExpirationInDays"])}
            if "AbortIncompleteMultipartUpload" in r:
                rule["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
                }
            rules.append(rule)
        return rules

    def _configure(self, cf, name, props):
        s3 = cf.aws("s3")
        if "BucketEncryption" in props:
            rules = [
                {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        rules = self._lifecycle(props)
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})

    def create(self, cf, stack, logical, props):
        name = props.get("BucketName") or _name(stack, logical, cf.rng, limit=63, lower=True)
        cf.aws("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": cf.region})
        self._configure(cf, name, props)
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def update(self, cf, stack, logical, old, props):
        self._configure(cf, old.physical, props)

    def delete(self, cf, stack, physical, props):
        try:
            cf.aws("s3").delete_bucket(Bucket=physical)
        except Exception as exc:
            if "NoSuchBucket" not in str(exc):
                raise


class _BucketPolicy(_Type):
    """Kept in the fake's registry, not put on the moto bucket: moto evaluates bucket policies
    but ignores their Conditions, so the TLS-only Deny (``aws:SecureTransport`` false) would
    deny every request. tests/aws/test_template.py checks the policies' content."""

    def create(self, cf, stack, logical, props):
        cf.aws("s3").head_bucket(Bucket=props["Bucket"])  # the bucket must exist
        cf.bucket_policies[props["Bucket"]] = props["PolicyDocument"]
        return props["Bucket"], {}

    def update(self, cf, stack, logical, old, props):
        cf.bucket_policies[old.physical] = props["PolicyDocument"]

    def delete(self, cf, stack, physical, props):
        cf.bucket_policies.pop(physical, None)


class _Table(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("TableName") or _name(stack, logical, cf.rng, limit=255)
        ddb = cf.aws("dynamodb")
        arn = ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
            SSESpecification={"Enabled": bool(props.get("SSESpecification", {}).get("SSEEnabled"))},
        )["TableDescription"]["TableArn"]
        if props.get("PointInTimeRecoverySpecification"):
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": props["PointInTimeRecoverySpecification"][
                        "PointInTimeRecoveryEnabled"
                    ]
                },
            )
        return name, {"Arn": arn}

    def delete(self, cf, stack, physical, props):
        cf.aws("dynamodb").delete_table(TableName=physical)


class _Collection(_Type):
    def create(self, cf, stack, logical, props):
        cid = props["CollectionId"]
        if cid in cf.collections:
            raise AwsError("ResourceAlreadyExistsException", f"{cid} already exists")
        cf.collections[cid] = f"arn:aws:rekognition:{cf.region}:{ACCOUNT}:collection/{cid}"
        return cid, {"Arn": cf.collections[cid]}

    def delete(self, cf, stack, physical, props):
        cf.collections.pop(physical, None)


class _Thing(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("ThingName") or _name(stack, logical, cf.rng, limit=128)
        try:
            arn = cf.aws("iot").create_thing(thingName=name)["thingArn"]
        except Exception as exc:
            raise AwsError("ResourceAlreadyExistsException", f"{name} already exists") from exc
        return name, {"Arn": arn}

    def delete(self, cf, stack, physical, props):
        cf.aws("iot").delete_thing(thingName=physical)


class _Policy(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("PolicyName") or _name(stack, logical, cf.rng, limit=128)
        out = cf.aws("iot").create_policy(policyName=name, policyDocument=json.dumps(props["PolicyDocument"]))
        return name, {"Arn": out["policyArn"], "Id": name}

    def update(self, cf, stack, logical, old, props):
        iot = cf.aws("iot")
        versions = iot.list_policy_versions(policyName=old.physical)["policyVersions"]
        if len(versions) >= 5:  # the handler deletes the oldest non-default version first
            oldest = sorted((v for v in versions if not v["isDefaultVersion"]), key=lambda v: int(v["versionId"]))
            iot.delete_policy_version(policyName=old.physical, policyVersionId=oldest[0]["versionId"])
        iot.create_policy_version(
            policyName=old.physical, policyDocument=json.dumps(props["PolicyDocument"]), setAsDefault=True
        )

    def delete(self, cf, stack, physical, props):
        iot = cf.aws("iot")
        for v in iot.list_policy_versions(policyName=physical)["policyVersions"]:
            if not v["isDefaultVersion"]:
                iot.delete_policy_version(policyName=physical, policyVersionId=v["versionId"])
        iot.delete_policy(policyName=physical)


class _Role(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("RoleName") or _name(stack, logical, cf.rng, limit=64)
        iam = cf.aws("iam")
        kwargs = {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(props["AssumeRolePolicyDocument"])}
        if props.get("PermissionsBoundary"):
            # IAM refuses a boundary that does not exist (moto does not check).
            try:
                iam.get_policy(PolicyArn=props["PermissionsBoundary"])
            except Exception as exc:
                raise AwsError(
                    "InvalidInput", f"Scope ARN: {props['PermissionsBoundary']} does not exist or is not attachable."
                ) from exc
            kwargs["PermissionsBoundary"] = props["PermissionsBoundary"]
        role = iam.create_role(**kwargs)["Role"]
        self._policies(cf, name, props, {})
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _policies(self, cf, name, props, old_props):
        iam = cf.aws("iam")
        new = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}
        for pname in {p["PolicyName"] for p in old_props.get("Policies", [])} - set(new):
            iam.delete_role_policy(RoleName=name, PolicyName=pname)
        for pname, doc in new.items():
            iam.put_role_policy(RoleName=name, PolicyName=pname, PolicyDocument=json.dumps(doc))

    def update(self, cf, stack, logical, old, props):
        iam = cf.aws("iam")
        iam.update_assume_role_policy(
            RoleName=old.physical, PolicyDocument=json.dumps(props["AssumeRolePolicyDocument"])
        )
        if props.get("PermissionsBoundary"):
            iam.put_role_permissions_boundary(RoleName=old.physical, PermissionsBoundary=props["PermissionsBoundary"])
        self._policies(cf, old.physical, props, old.props)

    def delete(self, cf, stack, physical, props):
        iam = cf.aws("iam")
        for pname in iam.list_role_policies(RoleName=physical)["PolicyNames"]:
            iam.delete_role_policy(RoleName=physical, PolicyName=pname)
        for p in iam.list_attached_role_policies(RoleName=physical)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=physical, PolicyArn=p["PolicyArn"])
        iam.delete_role(RoleName=physical)


class _TopicRule(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("RuleName") or _name(stack, logical, cf.rng, limit=128, sep="_").replace("-", "_")
        cf.aws("iot").create_topic_rule(ruleName=name, topicRulePayload=_lower_keys(props["TopicRulePayload"]))
        return name, {"Arn": f"arn:aws:iot:{cf.region}:{ACCOUNT}:rule/{name}"}

    def update(self, cf, stack, logical, old, props):
        cf.aws("iot").replace_topic_rule(ruleName=old.physical, topicRulePayload=_lower_keys(props["TopicRulePayload"]))

    def delete(self, cf, stack, physical, props):
        cf.aws("iot").delete_topic_rule(ruleName=physical)


class _DeliveryStream(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("DeliveryStreamName") or _name(stack, logical, cf.rng, limit=64)
        kwargs = {k: v for k, v in props.items() if k not in ("DeliveryStreamName",)}
        arn = cf.aws("firehose").create_delivery_stream(DeliveryStreamName=name, **kwargs)["DeliveryStreamARN"]
        return name, {"Arn": arn}

    def delete(self, cf, stack, physical, props):
        cf.aws("firehose").delete_delivery_stream(DeliveryStreamName=physical)


class _Database(_Type):
    def create(self, cf, stack, logical, props):
        cf.aws("glue").create_database(DatabaseInput=props["DatabaseInput"])
        return props["DatabaseInput"]["Name"], {}

    def delete(self, cf, stack, physical, props):
        cf.aws("glue").delete_database(Name=physical)


class _GlueTable(_Type):
    def create(self, cf, stack, logical, props):
        cf.aws("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])
        return props["TableInput"]["Name"], {}

    def update(self, cf, stack, logical, old, props):
        cf.aws("glue").update_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])

    def delete(self, cf, stack, physical, props):
        try:
            cf.aws("glue").delete_table(DatabaseName=props["DatabaseName"], Name=physical)
        except Exception as exc:  # gone with its database
            if "EntityNotFound" not in str(exc):
                raise


class _WorkGroup(_Type):
    def create(self, cf, stack, logical, props):
        athena = cf.aws("athena")
        if any(w["Name"] == props["Name"] for w in athena.list_work_groups()["WorkGroups"]):
            raise AwsError("InvalidRequestException", f"WorkGroup {props['Name']} already exists")
        athena.create_work_group(Name=props["Name"], Configuration=props.get("WorkGroupConfiguration", {}))
        return props["Name"], {}

    def delete(self, cf, stack, physical, props):
        cf.aws("athena").delete_work_group(
            WorkGroup=physical, RecursiveDeleteOption=bool(props.get("RecursiveDeleteOption"))
        )


class _LogGroup(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("LogGroupName") or _name(stack, logical, cf.rng, limit=512)
        logs = cf.aws("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return name, {"Arn": f"arn:aws:logs:{cf.region}:{ACCOUNT}:log-group:{name}:*"}

    def update(self, cf, stack, logical, old, props):
        if "RetentionInDays" in props:
            cf.aws("logs").put_retention_policy(
                logGroupName=old.physical, retentionInDays=int(props["RetentionInDays"])
            )

    def delete(self, cf, stack, physical, props):
        cf.aws("logs").delete_log_group(logGroupName=physical)


class _Function(_Type):
    KEYS = ("Runtime", "Handler", "MemorySize", "Timeout", "Environment", "Description", "Architectures")

    def _code(self, cf, props):
        code = props["Code"]
        version = {"VersionId": code["S3ObjectVersion"]} if code.get("S3ObjectVersion") else {}
        try:  # Lambda reads the zip when the function is created (moto does not check)
            cf.aws("s3").head_object(Bucket=code["S3Bucket"], Key=code["S3Key"], **version)
        except Exception as exc:
            raise AwsError(
                "InvalidParameterValueException",
                f"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Key: {code['S3Key']} {version}",
            ) from exc
        return code

    def create(self, cf, stack, logical, props):
        name = props.get("FunctionName") or _name(stack, logical, cf.rng, limit=64)
        code = self._code(cf, props)
        kwargs = {k: props[k] for k in self.KEYS if k in props}
        out = cf.aws("lambda").create_function(FunctionName=name, Role=props["Role"], Code=code, **kwargs)
        return name, {"Arn": out["FunctionArn"]}

    def update(self, cf, stack, logical, old, props):
        lam = cf.aws("lambda")
        if props["Code"] != old.props["Code"]:
            code = self._code(cf, props)
            lam.update_function_code(FunctionName=old.physical, **{k: v for k, v in code.items()})
        config = {k: props[k] for k in self.KEYS if k in props and k != "Architectures"}
        lam.update_function_configuration(FunctionName=old.physical, Role=props["Role"], **config)

    def delete(self, cf, stack, physical, props):
        cf.aws("lambda").delete_function(FunctionName=physical)


class _Permission(_Type):
    def create(self, cf, stack, logical, props):
        sid = _name(stack, logical, cf.rng, limit=100)
        cf.aws("lambda").add_permission(
            FunctionName=props["FunctionName"],
            StatementId=sid,
            Action=props["Action"],
            Principal=props["Principal"],
            SourceArn=props["SourceArn"],
        )
        return f"{props['FunctionName']}|{sid}", {}

    def delete(self, cf, stack, physical, props):
        function, sid = physical.split("|")
        try:
            cf.aws("lambda").remove_permission(FunctionName=function, StatementId=sid)
        except Exception as exc:  # gone with its function
            if "ResourceNotFound" not in str(exc):
                raise


class _RestApi(_Type):
    def create(self, cf, stack, logical, props):
        api = cf.aws("apigateway")
        body = json.loads(json.dumps(props["Body"]))
        out = api.import_rest_api(body=json.dumps(body).encode())
        root = [r for r in api.get_resources(restApiId=out["id"])["items"] if r["path"] == "/"][0]
        return out["id"], {"RootResourceId": root["id"], "RestApiId": out["id"]}

    def update(self, cf, stack, logical, old, props):
        cf.aws("apigateway").put_rest_api(
            restApiId=old.physical, mode="overwrite", body=json.dumps(props["Body"]).encode()
        )

    def delete(self, cf, stack, physical, props):
        cf.aws("apigateway").delete_rest_api(restApiId=physical)


class _Deployment(_Type):
    def create(self, cf, stack, logical, props):
        out = cf.aws("apigateway").create_deployment(
            restApiId=props["RestApiId"], description=props.get("Description", "")
        )
        return out["id"], {"DeploymentId": out["id"]}

    def delete(self, cf, stack, physical, props):
        try:
            cf.aws("apigateway").delete_deployment(restApiId=props["RestApiId"], deploymentId=physical)
        except Exception as exc:  # gone with its API
            if "NotFound" not in str(exc):
                raise


class _Stage(_Type):
    def create(self, cf, stack, logical, props):
        cf.aws("apigateway").create_stage(
            restApiId=props["RestApiId"], stageName=props["StageName"], deploymentId=props["DeploymentId"]
        )
        return props["StageName"], {}

    def update(self, cf, stack, logical, old, props):
        cf.aws("apigateway").update_stage(
            restApiId=props["RestApiId"],
            stageName=old.physical,
            patchOperations=[{"op": "replace", "path": "/deploymentId", "value": props["DeploymentId"]}],
        )

    def delete(self, cf, stack, physical, props):
        try:
            cf.aws("apigateway").delete_stage(restApiId=props["RestApiId"], stageName=physical)
        except Exception as exc:  # gone with its API
            if "NotFound" not in str(exc):
                raise


class _ApiKey(_Type):
    def create(self, cf, stack, logical, props):
        name = props.get("Name") or _name(stack, logical, cf.rng, limit=128)
        out = cf.aws("apigateway").create_api_key(
            name=name, enabled=props.get("Enabled", False), description=props.get("Description", "")
        )
        return out["id"], {"APIKeyId": out["id"]}

    def delete(self, cf, stack, physical, props):
        cf.aws("apigateway").delete_api_key(apiKey=physical)


class _UsagePlan(_Type):
    def create(self, cf, stack, logical, props):
        out = cf.aws("apigateway").create_usage_plan(
            name=props.get("UsagePlanName") or _name(stack, logical, cf.rng, limit=128),
            description=props.get("Description", ""),
            apiStages=[{"apiId": s["ApiId"], "stage": s["Stage"]} for s in props.get("ApiStages", [])],
            throttle={
                "rateLimit": float(props["Throttle"]["RateLimit"]),
                "burstLimit": int(props["Throttle"]["BurstLimit"]),
            },
            quota={"limit": int(props["Quota"]["Limit"]), "period": props["Quota"]["Period"]},
        )
        return out["id"], {"Id": out["id"]}

    def delete(self, cf, stack, physical, props):
        cf.aws("apigateway").delete_usage_plan(usagePlanId=physical)


class _UsagePlanKey(_Type):
    def create(self, cf, stack, logical, props):
        cf.aws("apigateway").create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType=props["KeyType"]
        )
        return f"{props['KeyId']}:{props['UsagePlanId']}", {"Id": props["KeyId"]}

    def delete(self, cf, stack, physical, props):
        key, plan = physical.split(":")
        try:
            cf.aws("apigateway").delete_usage_plan_key(usagePlanId=plan, keyId=key)
        except Exception as exc:  # gone with its plan or key
            if "NotFound" not in str(exc):
                raise


class _QuickSight(_Type):
    """QuickSight assets live in the fake's registry (moto implements neither listing nor
    deleting them). A SPICE data set waits for its ingestion unless IngestionWaitPolicy
    says not to (the resource schema's documented default), so a failed ingestion fails it."""

    def __init__(self, kind, id_key):
        self.kind, self.id_key = kind, id_key

    def create(self, cf, stack, logical, props):
        arn = f"arn:aws:quicksight:{cf.region}:{props['AwsAccountId']}:{self.kind}/{props[self.id_key]}"
        if arn in cf.quicksight:
            raise AwsError("ResourceExistsException", f"{arn} already exists")
        for principal in props.get("Permissions", []):
            if not principal["Principal"].startswith("arn:aws:quicksight:"):
                raise AwsError("InvalidParameterValueException", "Principal is not a QuickSight user or group ARN")
        self._check(cf, props)
        cf.quicksight[arn] = props
        return props[self.id_key], {"Arn": arn}

    def _check(self, cf, props):
        if self.kind != "dataset":
            return
        waits = props.get("IngestionWaitPolicy", {}).get("WaitForSpiceIngestion", True)
        if props.get("ImportMode") == "SPICE" and waits not in (False, "false") and cf.ingestion_fails:
            raise AwsError("InvalidParameterValueException", "Ingestion failed: ACCESS_DENIED to the data source")

    def update(self, cf, stack, logical, old, props):
        self._check(cf, props)
        arn = old.attrs["Arn"]
        cf.quicksight[arn] = props

    def delete(self, cf, stack, physical, props):
        arn = f"arn:aws:quicksight:{cf.region}:{props['AwsAccountId']}:{self.kind}/{physical}"
        cf.quicksight.pop(arn, None)


_HANDLERS = {
    "AWS::S3::Bucket": _Bucket(),
    "AWS::S3::BucketPolicy": _BucketPolicy(),
    "AWS::DynamoDB::Table": _Table(),
    "AWS::Rekognition::Collection": _Collection(),
    "AWS::IoT::Thing": _Thing(),
    "AWS::IoT::Policy": _Policy(),
    "AWS::IAM::Role": _Role(),
    "AWS::IoT::TopicRule": _TopicRule(),
    "AWS::KinesisFirehose::DeliveryStream": _DeliveryStream(),
    "AWS::Glue::Database": _Database(),
    "AWS::Glue::Table": _GlueTable(),
    "AWS::Athena::WorkGroup": _WorkGroup(),
    "AWS::Logs::LogGroup": _LogGroup(),
    "AWS::Lambda::Function": _Function(),
    "AWS::Lambda::Permission": _Permission(),
    "AWS::ApiGateway::RestApi": _RestApi(),
    "AWS::ApiGateway::Deployment": _Deployment(),
    "AWS::ApiGateway::Stage": _Stage(),
    "AWS::ApiGateway::ApiKey": _ApiKey(),
    "AWS::ApiGateway::UsagePlan": _UsagePlan(),
    "AWS::ApiGateway::UsagePlanKey": _UsagePlanKey(),
    "AWS::QuickSight::DataSource": _QuickSight("datasource", "DataSourceId"),
    "AWS::QuickSight::DataSet": _QuickSight("dataset", "DataSetId"),
    "AWS::QuickSight::Dashboard": _QuickSight("dashboard", "DashboardId"),
}


def handled_types() -> set[str]:
    return set(_HANDLERS)


# ---------------------------------------------------------------------------- inventory
def inventory(session, region: str, cf: FakeCloudFormation) -> dict[str, list]:
    """Everything FaceGate's templates and deployer create, listed from the account.
    A clean account gives an empty list for every key."""

    def c(name):
        return session.client(name, region_name=region)

    iot, api = c("iot"), c("apigateway")
    return {
        "cloudformation stacks": cf.live_stacks(),
        "s3 buckets": [b["Name"] for b in c("s3").list_buckets().get("Buckets", [])],
        "dynamodb tables": c("dynamodb").list_tables()["TableNames"],
        "rekognition collections": list(cf.collections),
        "iot things": [t["thingName"] for t in iot.list_things()["things"]],
        "iot policies": [p["policyName"] for p in iot.list_policies()["policies"]],
        "iot certificates": [x["certificateId"] for x in iot.list_certificates()["certificates"]],
        "iot topic rules": [r["ruleName"] for r in iot.list_topic_rules()["rules"]],
        "iam roles": [r["RoleName"] for r in c("iam").list_roles()["Roles"]],
        "iam policies": [p["PolicyName"] for p in c("iam").list_policies(Scope="Local")["Policies"]],
        "firehose delivery streams": c("firehose").list_delivery_streams()["DeliveryStreamNames"],
        "glue databases": [d["Name"] for d in c("glue").get_databases()["DatabaseList"]],
        "athena workgroups": [
            w["Name"] for w in c("athena").list_work_groups()["WorkGroups"] if w["Name"] != "primary"
        ],
        "log groups": [g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]],
        "lambda functions": [f["FunctionName"] for f in c("lambda").list_functions()["Functions"]],
        "rest apis": [a["id"] for a in api.get_rest_apis()["items"]],
        "api keys": [k["id"] for k in api.get_api_keys()["items"]],
        "usage plans": [p["id"] for p in api.get_usage_plans()["items"]],
        "quicksight assets": list(cf.quicksight),
    }


def code_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


__all__ = [
    "ACCOUNT",
    "AwsError",
    "CertificatesFromCsr",
    "EventualDetach",
    "FakeCloudFormation",
    "code_zip",
    "fail_once",
    "handled_types",
    "intercept",
    "inventory",
    "resource_schema",
]
