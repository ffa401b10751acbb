"""``python -m core iot ...``: device certificates, the local broker, test messages, status."""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import InvalidParameter


def _settings():
    from core.config import load_settings

    return load_settings()


def _create_device(args) -> int:
    from core.telemetry.ca import LocalCA, connection_info
    from core.telemetry.local import split_endpoint, telemetry_paths

    settings = _settings()
    creds = LocalCA(telemetry_paths(settings).pki).create_device(args.device_id, Path(args.out))
    host, port = settings.bind_host, settings.mqtt_port
    if settings.mqtt_endpoint:
        host, port = split_endpoint(settings.mqtt_endpoint)
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    print(connection_info(creds, host, port))
    return 0


def _registry():
    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    return LocalCA(telemetry_paths(_settings()).pki).registry()


def _list_devices(_args) -> int:
    for row in _registry().list():
        print(json.dumps(row))
    return 0


def _revoke_device(args) -> int:
    n = _registry().revoke(args.device_id, args.certificate_id)
    print(json.dumps({"device_id": args.device_id, "revoked": n}))
    return 0


def _delete_device(args) -> int:
    """Forget the device's certificates; the app's own copy of its key (if any) goes too."""
    import shutil

    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    n = _registry().delete(args.device_id, args.certificate_id)
    own = LocalCA(telemetry_paths(_settings()).pki).dir / "devices" / args.device_id
    if not args.certificate_id and own.is_dir():
        shutil.rmtree(own)
    print(json.dumps({"device_id": args.device_id, "deleted": n}))
    return 0


def _register_device(args) -> int:
    """Adopt a certificate issued by the local CA before the registry existed."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    ca = LocalCA(telemetry_paths(_settings()).pki).ensure()
    pem = Path(args.cert).read_bytes()
    try:
        x509.load_pem_x509_certificate(pem).verify_directly_issued_by(
            x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
        )
    except (ValueError, TypeError, InvalidSignature):
        raise InvalidParameter(f"{args.cert} was not issued by this FaceGate's local CA") from None
    cid = _registry().register(pem, "device", only_if_new=True)
    print(json.dumps({"certificate_id": cid}))
    return 0


def run_stack(settings, *, port: int | None = None, on_ready=None) -> int:
    """Run broker + rule engine in this process until SIGINT/SIGTERM (``serve`` uses it too)."""
    import asyncio
    import dataclasses

    from core.bootstrap.local import build_local_services
    from core.telemetry.local import TelemetryStack

    services = build_local_services(dataclasses.replace(settings, publisher="direct"))
    stack = TelemetryStack(
        settings,
        events=services.events,
        objects=services.objects,
        port=port,
        stream_max_age_s=settings.analysis_buffer_seconds,
    )
    asyncio.run(stack.run(ready=on_ready))
    return 0


def _broker(args) -> int:
    def ready(stack):
        print(
            json.dumps({"endpoint": stack.host, "port": stack.port, "ca_file": str(stack.ca.ca_file.resolve())}),
            flush=True,
        )

    return run_stack(_settings(), port=args.port, on_ready=ready)


def _publish(args):
    from core.bootstrap import build_services

    services = build_services()
    publisher = services.publisher
    try:
        if args.topic:
            message_id = publisher.publish_raw(args.topic, args.payload.encode())
        else:
            try:
                record = json.loads(args.payload)
            except ValueError:
                raise InvalidParameter("--payload must be a JSON object for --kind") from None
            message_id = publisher.publish(args.kind, record)
        delivered = publisher.wait_drained(args.wait)
        return {"message_id": message_id, "delivered": delivered, **publisher.status()}
    finally:
        services.close()


def _status(_args):
    from core.bootstrap import build_services

    services = build_services()
    try:
        out: dict[str, object] = {"publisher": services.publisher.status()}
        if services.telemetry.available:
            out["broker"] = services.telemetry.broker_status()
            out["rule_errors"] = services.telemetry.error_count()
        return out
    finally:
        services.close()


def _monitor():
    from core.telemetry.monitor import LocalTelemetryMonitor

    return LocalTelemetryMonitor(_settings())


def _tail(args) -> int:
    for item in reversed(_monitor().recent(args.topic, args.limit)):
        print(json.dumps(item, ensure_ascii=False))
    return 0


def _errors(args) -> int:
    for item in _monitor().errors(args.limit):
        print(json.dumps(item, ensure_ascii=False))
    return 0


def add_parser(sub) -> None:
    iot = sub.add_parser("iot", help="MQTT telemetry: device certificates, local broker, test messages")
    cmds = iot.add_subparsers(dest="command", required=True)

    p = cmds.add_parser("create-device", help="issue a device certificate and key (one line of JSON: how to connect)")
    p.add_argument("--device-id", required=True)
    p.add_argument("--out", required=True, help="folder for the certificate, key and CA file")
    p.set_defaults(func=_create_device)

    p = cmds.add_parser("list-devices", help="the device registry: every certificate, its thing and status")
    p.set_defaults(func=_list_devices)

    p = cmds.add_parser("revoke-device", help="revoke a device's certificates: refused at once, live sessions end")
    p.add_argument("--device-id", required=True)
    p.add_argument("--certificate-id", default=None, help="only this certificate (id or its first characters)")
    p.set_defaults(func=_revoke_device)

    p = cmds.add_parser("delete-device", help="remove a device's certificates from the registry")
    p.add_argument("--device-id", required=True)
    p.add_argument("--certificate-id", default=None, help="only this certificate (id or its first characters)")
    p.set_defaults(func=_delete_device)

    p = cmds.add_parser("register-device", help="register a certificate this CA issued before the registry existed")
    p.add_argument("--cert", required=True, help="the device's certificate (PEM)")
    p.set_defaults(func=_register_device)

    p = cmds.add_parser("broker", help="run the local broker and rule engine in the foreground")
    p.add_argument("--port", type=int, default=None, help="port (default FACEGATE_MQTT_PORT; 0 = any free port)")
    p.set_defaults(func=_broker)

    p = cmds.add_parser("publish", help="publish a course record (--kind) or any payload (--topic)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--kind", choices=["auth", "analysis", "door", "sensor"])
    group.add_argument("--topic")
    p.add_argument("--payload", required=True, help="JSON text (any text with --topic)")
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the broker's acknowledgement")
    p.set_defaults(func=_publish)

    p = cmds.add_parser("status", help="publisher, broker and rule-engine state")
    p.set_defaults(func=_status)

    p = cmds.add_parser("tail", help="recent messages the broker accepted (JSON lines, oldest first)")
    p.add_argument("--topic", default=None)
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_tail)

    p = cmds.add_parser("errors", help="messages the rule engine could not store, with the reason")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_errors)
