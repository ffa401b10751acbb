"""``python -m core deploy up|status|down``: build, inspect and remove the AWS side."""

from __future__ import annotations

import sys

from core.errors import InvalidParameter


def _deployer(args):
    from core.config import load_settings
    from core.deploy.stack import Deployer, DeployOptions

    settings = load_settings()
    params = {}
    for item in getattr(args, "parameter", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"--parameter must be Key=Value, not {item!r}")
        params[key] = value
    options = DeployOptions(
        stack_name=args.stack or settings.stack_name,
        region=args.region or settings.region,
        parameters=params,
    )
    return Deployer(settings, options)


def _up(args):
    return _deployer(args).up()


def _status(args):
    return _deployer(args).status()


def _down(args):
    deployer = _deployer(args)
    name = deployer.options.stack_name
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidParameter(
                "`deploy down` deletes every resource and all bucket contents; "
                "confirm with --yes when not running interactively"
            )
        print(
            f"This deletes stack {name!r} in {deployer.options.region}: every bucket and its contents "
            "(photos, registered faces, logs), the face collection, the sensor table, the device "
            "certificates and the Web API.",
            file=sys.stderr,
        )
        if input(f"Type the stack name ({name}) to confirm: ").strip() != name:
            print("Not confirmed; nothing was deleted.", file=sys.stderr)
            return 1
    return deployer.down()


def _policies(args):
    from core.deploy import policies

    if args.write:
        return {"written": policies.write()}
    stale = [str(p.relative_to(policies.ROOT)) for p, text in policies.generated().items() if p.read_text() != text]
    if stale:
        print(f"out of date: {', '.join(stale)}; run with --write", file=sys.stderr)
        return 1
    return {"current": [str(p.relative_to(policies.ROOT)) for p in policies.generated()]}


def add_parser(sub) -> None:
    deploy = sub.add_parser("deploy", help="the AWS side: up, status, down (deploy/template.yaml)")
    cmds = deploy.add_subparsers(dest="command", required=True)
    for name, func, text in (
        (
            "up",
            _up,
            "package the Lambda code, create or update the stacks, create the "
            "device certificate, write the app configuration",
        ),
        ("status", _status, "stack states, outputs and the device certificate"),
        ("down", _down, "delete everything, bucket contents included, after a confirmation"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("--stack", help="stack name (default FACEGATE_STACK_NAME)")
        p.add_argument("--region", help="AWS region (default FACEGATE_REGION)")
        p.set_defaults(func=func)
        if name == "up":
            p.add_argument(
                "--parameter",
                action="append",
                metavar="Key=Value",
                help="template parameter override, e.g. PhotosRetentionDays=3 (repeatable)",
            )
        if name == "down":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = cmds.add_parser(
        "policies",
        help="check (or --write) deploy/deployer-policy-part*.json, role-boundary-policy.json and "
        "app-policy.json against CloudFormation's handler permissions and IAM's reference (dev tools)",
    )
    p.add_argument("--write", action="store_true", help="regenerate the files")
    p.set_defaults(func=_policies)
