"""``python -m core aws-endpoint`` (serve it), ``aws-credentials create|list|revoke`` (its
access keys) and ``aws-env`` (the export lines that point boto3 and the AWS CLI at it)."""

from __future__ import annotations

import sys


def _settings():
    from core.config import load_settings

    return load_settings()


def _store():
    from core.awsapi.credentials import CredentialStore

    return CredentialStore(_settings().data_dir)


def _serve(args) -> int:
    import logging

    from core.awsapi.server import run_aws_endpoint

    logging.getLogger("facegate").setLevel(logging.INFO if args.verbose else logging.WARNING)

    def ready(url: str) -> None:
        print(f"FaceGate AWS-compatible endpoint (S3, Rekognition, IoT Data): {url}", file=sys.stderr, flush=True)
        print('  point boto3 / the AWS CLI at it: eval "$(python -m core aws-env)"', file=sys.stderr, flush=True)

    run_aws_endpoint(_settings(), args.host, args.port, https=args.https, on_ready=ready)
    return 0


def _create(args):
    cred = _store().create(args.name, args.role, args.expires_days)
    print(
        f"access key {cred.access_key_id} ({cred.role}, {cred.name}): the secret is shown once here and kept "
        "owner-only in the data dir; `python -m core aws-env --name "
        f"{cred.name}` prints the lines that use it",
        file=sys.stderr,
    )
    return {
        "AccessKeyId": cred.access_key_id,
        "SecretAccessKey": cred.secret_access_key,
        "Name": cred.name,
        "Role": cred.role,
        "Expires": cred.expires,
    }


def _env(args) -> int:
    from core.awsapi.env import env_lines

    lines, notes = env_lines(_settings(), name=args.name, keys=args.keys, host=args.host, https=args.https)
    for note in notes:
        print(f"# {note}", file=sys.stderr)
    print("\n".join(lines))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "aws-endpoint", help="serve the AWS-compatible endpoint (S3, Rekognition, IoT Data) in the foreground"
    )
    p.add_argument("--host", default=None, help="address to bind (default FACEGATE_BIND_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default FACEGATE_AWS_PORT; 0 = any free port)")
    p.add_argument(
        "--https", action="store_true", help="TLS with the app's self-signed certificate (for devices on the LAN)"
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=_serve)

    creds = sub.add_parser("aws-credentials", help="access keys for the AWS-compatible endpoint")
    cmds = creds.add_subparsers(dest="command", required=True)
    p = cmds.add_parser("create", help="issue a key pair; prints the secret once")
    p.add_argument("--name", required=True, help="who uses it; also its MQTT identity (e.g. learner, id001)")
    p.add_argument("--role", choices=["admin", "device"], default="device")
    p.add_argument("--expires-days", type=float, default=None, help="refuse the key after this many days")
    p.set_defaults(func=_create)
    p = cmds.add_parser("list", help="access key ids, names, roles and states (never the secrets)")
    p.set_defaults(func=lambda a: [c.public() for c in _store().list()])
    p = cmds.add_parser("revoke", help="revoke an access key id, or every key of a name")
    p.add_argument("key_or_name")
    p.set_defaults(func=lambda a: [c.public() for c in _store().revoke(a.key_or_name)])

    p = sub.add_parser(
        "aws-env",
        help='print the export lines that make boto3 and the AWS CLI use FaceGate (eval "$(python -m core aws-env)")',
    )
    p.add_argument(
        "--name", default=None, help="whose credentials (default: the newest admin key; one is made if none)"
    )
    p.add_argument(
        "--keys", action="store_true", help="export the key pair itself instead of a profile file (less safe)"
    )
    p.add_argument("--host", default=None, help="the host devices reach this machine by (default: 127.0.0.1)")
    p.add_argument("--https", action="store_true", help="the endpoint runs with --https (adds AWS_CA_BUNDLE)")
    p.set_defaults(func=_env)
