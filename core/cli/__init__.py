"""``python -m core <group> <command>``: the stable command line.

Each command group lives in its own module here and registers itself through
``add_parser(subparsers)``; the command function returns a JSON-able value (printed on
stdout) or an int exit code. Domain errors print ``{"error", "message"}`` on stderr and
exit 2; anything else exits 1 without a traceback unless FACEGATE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from datetime import date, datetime

from core.errors import FaceGateError
from core.storage.files import storage_full

# Command groups, one module each (core/cli/<name>.py).
GROUPS = ("faces", "api", "demo_data", "deploy", "iot", "serve", "events", "app", "access", "privacy", "awsapi")


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def print_json(value) -> None:
    print(json.dumps(value, ensure_ascii=False, default=_json_default, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="FaceGate command line")
    sub = parser.add_subparsers(dest="group", required=True)
    for name in GROUPS:
        module = importlib.import_module(f"core.cli.{name}")
        module.add_parser(sub)
    return parser


def _data_dir():
    """The data directory the settings name, or None when they cannot be read."""
    try:
        from core.config import load_settings

        return load_settings().data_dir
    except Exception:  # noqa: BLE001 - only used to tell a full disk apart
        return None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("FACEGATE_LOG_LEVEL", "WARNING"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except FaceGateError as exc:
        print(json.dumps(exc.to_dict(), ensure_ascii=False), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's last line of defence
        full = storage_full(exc, _data_dir())
        if full is not None:  # a full disk is said plainly (exit 2), whatever raised it
            print(json.dumps(full.to_dict(), ensure_ascii=False), file=sys.stderr)
            return 2
        if os.environ.get("FACEGATE_DEBUG") == "1":
            raise
        print(json.dumps({"error": "InternalError", "message": f"{type(exc).__name__}: {exc}"}), file=sys.stderr)
        return 1
    if isinstance(result, int):
        return result
    if result is not None:
        print_json(result)
    return 0
