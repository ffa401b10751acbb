"""``python -m core demo-data --events N [--days D]``: fill the configured world with demo events."""

from __future__ import annotations

import time


def _run(args):
    from core.bootstrap import build_services
    from core.config import records_zone
    from core.events.demo import generate_demo_events

    services = build_services()
    try:
        started = time.perf_counter()
        counts = generate_demo_events(
            services.events,
            args.events,
            days=args.days,
            devices=args.devices,
            first_device=services.settings.device_id,
            seed=args.seed,
            utc_offset_minutes=None if args.utc_offset_hours is None else round(args.utc_offset_hours * 60),
            zone=records_zone(services.settings),
        )
        sealed = services.events.seal()
        return {
            "stored": counts,
            "total": sum(counts.values()),
            "segments_sealed": sealed,
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        services.close()


def add_parser(sub) -> None:
    p = sub.add_parser("demo-data", help="fill the event store with realistic demo events")
    p.add_argument("--events", type=int, default=100_000, help="about how many events (default 100000)")
    p.add_argument("--days", type=int, default=30, help="spread over the last D days (default 30)")
    p.add_argument("--devices", type=int, default=4, help="how many devices (default 4)")
    p.add_argument(
        "--utc-offset-hours",
        type=float,
        default=None,
        help="time zone of the office hours visits cluster in (default: this machine's, e.g. 9 for Japan)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for a repeatable data set")
    p.set_defaults(func=_run)
