"""``python -m core access ...``: the admin password and the at-rest check (core.access).

The CLI acts as the operator: the OS user who owns the data directory."""

from __future__ import annotations

import getpass
import sys


def _read_password(prompt: str) -> str:
    # A password never goes on the command line (it would show in ps and the shell history).
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("again: ") != first:
            from core.errors import InvalidParameter

            raise InvalidParameter("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _set_password(args):
    from core.access import sessions
    from core.config import load_settings

    settings = load_settings()
    ctl = sessions.access_control(settings)
    with sessions.operator(settings, "cli"):
        generation = ctl.set_admin_password(_read_password("new admin password: "))
    return {
        "admin_password": "set",
        "stored_in": str(ctl.path),
        "generation": generation,
        "note": "every other sign-in has ended",
    }


def _hash_password(args):
    from core.access.passwords import hash_password

    return {"FACEGATE_ADMIN_PASSWORD_HASH": hash_password(_read_password("admin password: "))}


def _status(args):
    from core.access import sessions
    from core.config import load_settings
    from core.storage import permissions

    settings = load_settings()
    ctl = sessions.access_control(settings)
    source = ctl.password_source()
    return {
        "admin_password": source,
        "setup_code_file": str(ctl.setup_code_file()) if source == "unset" else None,
        "admin_emails": [e for e in settings.admin_emails.split(",") if e.strip()],
        "session_idle_minutes": settings.session_idle_minutes,
        "not_owner_only": permissions.owner_only_problems(settings.data_dir),
    }


def _fix_files(args):
    from core.config import load_settings
    from core.storage import permissions

    settings = load_settings()
    return {
        "changed": permissions.make_owner_only(settings.data_dir),
        "still_open": permissions.owner_only_problems(settings.data_dir),
    }


def add_parser(sub) -> None:
    p = sub.add_parser("access", help="admin password, sign-in status, owner-only files")
    cmds = p.add_subparsers(dest="command", required=True)
    c = cmds.add_parser("set-password", help="set or change the local admin password (read from stdin)")
    c.set_defaults(func=_set_password)
    c = cmds.add_parser("hash-password", help="print a FACEGATE_ADMIN_PASSWORD_HASH for secrets.toml")
    c.set_defaults(func=_hash_password)
    c = cmds.add_parser("status", help="where the admin password comes from; files others could read")
    c.set_defaults(func=_status)
    c = cmds.add_parser("fix-files", help="make every file under the data directory owner-only")
    c.set_defaults(func=_fix_files)
