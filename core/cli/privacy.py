"""``python -m core privacy purge|forget-person NAME``: retention and erasure (core.usecases.retention).

The CLI acts as the operator: the OS user who owns the data directory."""

from __future__ import annotations


def _purge(args):
    from core.access.sessions import operator
    from core.bootstrap import build_services
    from core.usecases.retention import purge

    services = build_services()
    try:
        with operator(services.settings, "cli"):
            report = purge(services)
    finally:
        services.close()
    s = services.settings
    return {
        **report.as_dict(),
        "retention_match_hours": s.retention_match_hours,
        "retention_unknown_hours": s.retention_unknown_hours,
        "retention_log_days": s.retention_log_days,
    }


def _forget(args):
    from core.access.sessions import operator
    from core.bootstrap import build_services
    from core.usecases.retention import forget_person

    services = build_services()
    try:
        with operator(services.settings, "cli"):
            return {"forgotten": args.name, **forget_person(services, args.name)}
    finally:
        services.close()


def add_parser(sub) -> None:
    p = sub.add_parser("privacy", help="purge expired captures; forget a person everywhere")
    cmds = p.add_subparsers(dest="command", required=True)
    c = cmds.add_parser("purge", help="delete captures older than the retention settings, now")
    c.set_defaults(func=_purge)
    c = cmds.add_parser(
        "forget-person", help="erase a person's faces, photos, thumbnails, captures and the log records naming them"
    )
    c.add_argument("name", help="the person's name (ExternalImageId), e.g. Taro_Yamada")
    c.set_defaults(func=_forget)
