"""``python -m core events query ...``: stored events (both worlds) as JSON lines."""

from __future__ import annotations

import json
import math


def _jsonable(value):
    import pandas as pd  # here: every command's parser imports this module, and serve needs no pandas

    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _query(args) -> int:
    from core.bootstrap import build_services

    services = build_services()
    try:
        frame = services.events.query(
            args.kind, device=args.device, since=args.since, until=args.until, limit=args.limit, receipts=args.receipts
        )
    finally:
        services.close()
    if not args.json:
        print(frame.to_string(index=False) if len(frame) else "(no events)")
        return 0
    for record in frame.to_dict(orient="records"):
        print(json.dumps({k: _jsonable(v) for k, v in record.items()}, ensure_ascii=False))
    return 0


def add_parser(sub) -> None:
    events = sub.add_parser("events", help="stored log events (what the rules stored)")
    cmds = events.add_subparsers(dest="command", required=True)
    p = cmds.add_parser("query", help="events of one kind, oldest first")
    p.add_argument("--kind", required=True, choices=["sensor", "auth", "analysis", "door"])
    p.add_argument("--device", default=None, help="only this DeviceID")
    p.add_argument("--since", default=None, help="ISO 8601 time (inclusive)")
    p.add_argument("--until", default=None, help="ISO 8601 time (exclusive)")
    p.add_argument("--limit", type=int, default=None, help="only the newest N")
    p.add_argument("--json", action="store_true", help="JSON lines (one event per line)")
    p.add_argument("--receipts", action="store_true", help="add ReceivedAt and SentBy (who sent it; local world)")
    p.set_defaults(func=_query)
