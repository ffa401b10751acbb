"""Telemetry benchmark: messages/s through the local broker + rule engine into the stores,
publish -> stored latency, the app's outbox path, the device gateway's checks, quotas at their
defaults, a subscriber that never reads, bytes on disk per stored message, and memory. Prints
figures; asserts nothing.

The broker + rule engine run as their own process (``python -m core iot broker``), as in
``make run``; devices are awsiotsdk MQTT 5 clients with certificates from the local CA (one
registered thing per connection, client id = thing name), in this process. Every publish
goes through the device registry, the topic policy, the per-device quota and the disk guard;
sections 1-4 raise the quota above what they send so that they measure the broker, section 5
runs the default quota (IoT Core's 100 publishes/s per device). "Stored" means visible in the
event store (read from this process, polled every 2 ms).
Baselines, measured in the same run: the direct publisher (no broker, synchronous append), and
the gateway's checks against an empty call.

    python bench/telemetry.py [--messages 20000] [--devices 2]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.events.records import analysis_log_records, auth_log_records, door_open_record, sensor_record  # noqa: E402

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def sensor(i: int) -> dict:
    return sensor_record("id001", T0, float(i)) | {"Datetime": (T0 + timedelta(milliseconds=i)).isoformat()}


def mixed(i: int) -> tuple[str, dict]:
    """70 % sensor, 15 % analysis, 10 % auth, 5 % door (the last two write one object each)."""
    r = i % 20
    if r < 14:
        return "sensor", sensor(i)
    if r < 17:
        return "analysis", analysis_log_records(T0, [{"AgeRange": {"Low": 20, "High": 30}}])[0]
    if r < 19:
        return "auth", auth_log_records("id001", T0, f"img{i}.jpg", [])[0]
    return "door", door_open_record("id001", T0, "Taro_Yamada")


class StoreWatcher:
    """Polls the event store (another process writes it) and notes when each id appears."""

    def __init__(self, db: Path):
        self.db, self.seen, self.count = db, {}, 0
        self._stop = threading.Event()
        self._last = {k: 0 for k in ("sensor", "auth", "analysis", "door")}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        con = None
        while not self._stop.is_set():
            if con is None:
                try:
                    con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
                except sqlite3.Error:
                    time.sleep(0.01)
                    continue
            now = time.perf_counter()
            try:
                for kind, last in self._last.items():
                    rows = con.execute(f"SELECT seq, id FROM {kind} WHERE seq > ? ORDER BY seq", (last,)).fetchall()
                    if rows:
                        self._last[kind] = rows[-1][0]
                        for _seq, msg_id in rows:
                            self.seen.setdefault(msg_id, now)
                        self.count += len(rows)
            except sqlite3.OperationalError:
                pass
            time.sleep(0.002)

    def wait_count(self, n: int, timeout: float = 300) -> float:
        deadline = time.perf_counter() + timeout
        while self.count < n and time.perf_counter() < deadline:
            time.sleep(0.001)
        return time.perf_counter()


def start_broker(env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "iot", "broker"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        proc.kill()
        raise SystemExit("broker did not start")
    json.loads(proc.stdout.readline())
    return proc


def device_clients(settings, n: int, name: str = "bench"):
    from awscrt import mqtt5
    from awsiot import mqtt5_client_builder

    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    clients = []
    for k in range(n):
        creds = LocalCA(telemetry_paths(settings).pki).device_credentials(f"{name}{k}")
        connected = threading.Event()
        client = mqtt5_client_builder.mtls_from_path(
            endpoint="127.0.0.1",
            port=settings.mqtt_port,
            cert_filepath=str(creds.cert_file),
            pri_key_filepath=str(creds.key_file),
            ca_filepath=str(creds.ca_file),
            client_id=creds.client_id,
            extended_validation_and_flow_control_options=mqtt5.ExtendedValidationAndFlowControlOptions.NONE,
            enable_metrics_collection=False,
            on_lifecycle_connection_success=lambda _d, e=connected: e.set(),
        )
        client.start()
        if not connected.wait(10):
            raise SystemExit("a bench device could not connect")
        clients.append(client)
    return clients


def run_devices(clients, messages: list[tuple[str, dict]], prefix: str, watcher: StoreWatcher, base: int):
    """Publish ``messages`` spread over ``clients`` as fast as they accept them; returns
    (seconds to the last PUBACK, seconds until all stored)."""
    from awscrt import mqtt5

    from core.events.port import topic_for

    done = threading.Semaphore(0)
    window = threading.Semaphore(2000)  # keep at most this many in flight per run (like receive-maximum)
    start = time.perf_counter()

    def send(client, part):
        for kind, payload in part:
            window.acquire()
            future = client.publish(
                mqtt5.PublishPacket(
                    topic=topic_for(kind, prefix),
                    payload=json.dumps(payload).encode(),
                    qos=mqtt5.QoS.AT_LEAST_ONCE,
                    user_properties=[mqtt5.UserProperty("facegate-id", uuid.uuid4().hex)],
                )
            )
            future.add_done_callback(lambda _f: (window.release(), done.release()))

    threads = [threading.Thread(target=send, args=(c, messages[k :: len(clients)])) for k, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in messages:
        done.acquire()
    acked = time.perf_counter() - start
    stored = watcher.wait_count(base + len(messages)) - start
    return acked, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--devices", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="facegate-bench-telemetry-"))
    port = free_port()
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(tmp / "data"),
        FACEGATE_SECRETS_FILE=str(tmp / "none.toml"),
        FACEGATE_MQTT_PORT=str(port),
        FACEGATE_LOG_LEVEL="ERROR",
        FACEGATE_PUBLISHER="mqtt",
        # Sections 1-4: every check runs, the quota does not bind (section 5 runs the default).
        FACEGATE_DEVICE_MESSAGES_PER_SECOND="1000000",
        FACEGATE_DEVICE_BYTES_PER_SECOND="100000000000",
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("FACEGATE_")})
    from core.config import load_settings

    settings = load_settings()
    print(
        f"telemetry benchmark: {args.messages} messages, {args.devices} device connections, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; data in {tmp}"
    )

    # --- baseline: direct publisher (no broker), same machine, same run -----------------
    from core.events.direct import DirectPublisher
    from core.events.local import LocalEventStore

    direct_store = LocalEventStore(tmp / "direct" / "events.db")
    direct = DirectPublisher(direct_store)
    lat = []
    for i in range(500):
        t = time.perf_counter()
        direct.publish("sensor", sensor(i))
        lat.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for i in range(0, 5000, 50):
        direct.publish_many("sensor", [sensor(j) for j in range(i, i + 50)])
    direct_rate = 5000 / (time.perf_counter() - t)
    direct_p50, direct_p95 = statistics.median(lat), pct(lat, 95)
    print(
        f"\nbaseline direct publish->stored (no broker): p50 {direct_p50:.2f} ms, p95 {direct_p95:.2f} ms; "
        f"batches of 50: {direct_rate:,.0f} msg/s"
    )

    gateway_cost(settings)

    broker = start_broker(env)
    try:
        watcher = StoreWatcher(settings.data_dir / "events" / "events.db").start()
        sleeper = silent_subscriber(settings)  # the app's monitor identity, reading nothing
        clients = device_clients(settings, args.devices)
        base = 0

        # --- 1. sustained throughput, sensor only ---------------------------------------
        n = args.messages
        acked, stored = run_devices(
            clients, [("sensor", sensor(i)) for i in range(n)], settings.topic_prefix, watcher, base
        )
        base += n
        rss, peak = rss_mb(broker.pid)
        print("\n1. devices -> broker -> rules -> stores, sensorLogData only")
        print(
            f"   {n} msgs: all PUBACKs in {acked:.2f} s ({n / acked:,.0f} msg/s), all stored in {stored:.2f} s "
            f"({n / stored:,.0f} msg/s); broker+engine RSS {rss:.0f} MB (peak {peak:.0f} MB)"
        )

        # --- 2. mixed topics: auth/door write one fsync'd object each ------------------
        m = max(2000, n // 2)
        acked, stored = run_devices(clients, [mixed(i) for i in range(m)], settings.topic_prefix, watcher, base)
        base += m
        print("2. mixed topics (70 % sensor, 15 % analysis, 10 % auth object, 5 % door object)")
        print(f"   {m} msgs: PUBACKs {m / acked:,.0f} msg/s, stored {m / stored:,.0f} msg/s")
        print_bytes_per_message(settings, base)
        big_messages_to_a_silent_subscriber(settings, broker, clients[0], watcher, base)
        base += BIG_MESSAGES
        sleeper.close()
        for c in clients:
            c.stop()

        # --- 3. the app's path: outbox (fsync) + awsiotsdk publisher ---------------------
        from core.telemetry.local import build_local_publisher

        pub = build_local_publisher(settings, "mqtt")
        deadline = time.monotonic() + 10
        while not pub.status()["connected"] and time.monotonic() < deadline:
            time.sleep(0.05)
        k = 5000
        t = time.perf_counter()
        for i in range(0, k, 50):
            pub.publish_many("sensor", [sensor(base + j) for j in range(i, i + 50)])
        queued = time.perf_counter() - t
        stored_at = watcher.wait_count(base + k)
        base += k
        print("3. app path: publish_many(50) into the durable outbox -> MQTT -> rules -> stores")
        print(f"   {k} msgs: accepted {k / queued:,.0f} msg/s, stored {k / (stored_at - t):,.0f} msg/s")

        # --- 4. publish -> stored latency at a steady rate -----------------------------
        for rate, count in ((100, 500), (1000, 3000)):
            sent = {}
            call = []
            t_start = time.perf_counter()
            for i in range(count):
                target = t_start + i / rate
                now = time.perf_counter()
                if target > now:
                    time.sleep(target - now)
                t = time.perf_counter()
                msg_id = pub.publish("sensor", sensor(base + i))
                sent[msg_id] = t
                call.append((time.perf_counter() - t) * 1000)
            watcher.wait_count(base + count)
            base += count
            lat = [(watcher.seen[m] - t) * 1000 for m, t in sent.items() if m in watcher.seen]
            print(
                f"4. publish->stored at {rate}/s ({count} msgs, one publish() each): "
                f"p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 95):.1f} ms, max {max(lat):.1f} ms; "
                "publish() call (durable outbox write) "
                f"p50 {statistics.median(call):.2f} ms, p95 {pct(call, 95):.2f} ms"
            )
            print(f"   vs direct baseline p50: x{statistics.median(lat) / direct_p50:.1f}")
        pub.close()
        rss, peak = rss_mb(broker.pid)
        own, own_peak = rss_mb(os.getpid())
        print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on these cores widens the tails)")
        print(
            f"\nmemory: broker+rule engine process RSS {rss:.0f} MB (peak {peak:.0f} MB); "
            f"bench process (devices, publisher, watcher) RSS {own:.0f} MB (peak {own_peak:.0f} MB)"
        )
        watcher.stop()
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
    quota_at_defaults(env, tmp)


BIG_MESSAGES = 600


def big_messages_to_a_silent_subscriber(settings, broker, client, watcher, base: int) -> None:
    """38 MB of 64 KB messages while the silent subscriber (subscribed since the start) reads
    nothing: without a bound they would all wait in its send buffer, in the broker's memory."""
    from awscrt import mqtt5

    before, _ = rss_mb(broker.pid)
    blob = "x" * 64_000
    futures = [
        client.publish(
            mqtt5.PublishPacket(
                topic=f"{settings.topic_prefix}/sensorLogData",
                payload=json.dumps(sensor(base + i) | {"Blob": blob}).encode(),
                qos=mqtt5.QoS.AT_LEAST_ONCE,
            )
        )
        for i in range(BIG_MESSAGES)
    ]
    for f in futures:
        f.result(120)
    watcher.wait_count(base + BIG_MESSAGES)
    time.sleep(1.5)  # the broker's status file is written every second
    after, peak = rss_mb(broker.pid)
    status = json.loads((settings.data_dir / "telemetry" / "broker.json").read_text())["broker"]
    print(
        f"   {BIG_MESSAGES} messages of 64 KB (38 MB) with a subscriber that never reads: broker RSS "
        f"{before:.0f} -> {after:.0f} MB (peak {peak:.0f} MB); {status.get('dropped_to_subscribers', 0):,} dropped "
        f"for it, {status.get('slow_subscribers_disconnected', 0)} disconnect(s) (buffer bound 1 MiB, 10 s)"
    )


def gateway_cost(settings) -> None:
    """What every publish pays for the registry-free checks (quota, policy, disk guard),
    against an empty call, in this process."""
    import dataclasses

    from core.telemetry.gateway import build_gateway
    from core.telemetry.registry import Identity

    gw = build_gateway(dataclasses.replace(settings), store=lambda batch: None)
    who, payload, n = Identity("bench0"), b"x" * 130, 200_000

    def empty(_identity, _topic, _payload):
        return None

    timings = {}
    for name, call in (("empty call", empty), ("gateway.admit", gw.admit)):
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                call(who, "handson/sensorLogData", payload)
            runs.append((time.perf_counter() - t) / n * 1e6)
        timings[name] = statistics.median(runs)
    print(
        f"\ngateway checks per publish (quota + policy + disk guard, in process): "
        f"{timings['gateway.admit']:.2f} us vs empty call {timings['empty call']:.2f} us "
        f"(x{timings['gateway.admit'] / timings['empty call']:.0f}); at 10,000 msg/s that is "
        f"{timings['gateway.admit'] * 10_000 / 1e4:.1f} % of one core"
    )


def silent_subscriber(settings):
    """The app's monitor identity subscribed to everything, with a 4 KB receive window, never
    reading (what used to grow the broker without bound)."""
    import ssl
    import struct

    from core.telemetry import wire
    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    creds = LocalCA(telemetry_paths(settings).pki).monitor_credentials()
    ctx = ssl.create_default_context(cafile=str(creds.ca_file))
    ctx.load_cert_chain(str(creds.cert_file), str(creds.key_file))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", settings.mqtt_port))
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    body = wire.enc_string("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 0) + wire.enc_properties([])
    sock.sendall(wire.packet(wire.CONNECT, 0, body + wire.enc_string(creds.client_id)))
    sub = struct.pack("!H", 1) + wire.enc_properties([]) + wire.enc_string(f"{settings.topic_prefix}/#") + b"\x00"
    sock.sendall(wire.packet(wire.SUBSCRIBE, 0x02, sub))
    time.sleep(0.5)
    return sock


def print_bytes_per_message(settings, stored: int) -> None:
    """Bytes on disk per stored message, by store (SQLite WALs checkpointed first)."""
    root = settings.data_dir
    for db in (root / "telemetry" / "journal.db", root / "telemetry" / "tables.db", root / "events" / "events.db"):
        con = sqlite3.connect(db, timeout=30)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # busy: the WAL is counted below
        con.close()

    def du(path: Path) -> int:
        if path.is_file():
            return path.stat().st_size
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0

    parts = {
        "journal": du(root / "telemetry" / "journal.db") + du(root / "telemetry" / "journal.db-wal"),
        "sensor table": du(root / "telemetry" / "tables.db") + du(root / "telemetry" / "tables.db-wal"),
        "event store": du(root / "events" / "events.db") + du(root / "events" / "events.db-wal"),
        "analytics copy": du(root / "events" / "columnar"),
        "log objects": du(root / "objects"),
    }
    total = sum(parts.values())
    split = ", ".join(f"{k} {v / stored:.0f}" for k, v in parts.items())
    print(f"   bytes on disk per stored message: {total / stored:.0f} ({split}; messages of ~130 B)")


def quota_at_defaults(base_env: dict, tmp: Path) -> None:
    """Section 5: the default quota (100 publishes/s per device) binds; devices that ignore it
    get PUBACK 0x97 for the excess, and each device is counted on its own."""
    from awscrt import mqtt5

    from core.config import load_settings

    env = {k: v for k, v in base_env.items() if not k.startswith("FACEGATE_DEVICE_")}
    env.update(FACEGATE_DATA_DIR=str(tmp / "data-quota"), FACEGATE_MQTT_PORT=str(free_port()))
    saved = {k: os.environ.get(k) for k in env if k.startswith("FACEGATE_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("FACEGATE_")})
    for k in ("FACEGATE_DEVICE_MESSAGES_PER_SECOND", "FACEGATE_DEVICE_BYTES_PER_SECOND"):
        os.environ.pop(k, None)
    settings = load_settings()
    broker = start_broker(env)
    try:
        clients = device_clients(settings, 4, name="flood")
        per_device = 1000
        results: list[list[int]] = [[] for _ in clients]
        start = time.perf_counter()

        def flood(k, client):
            futures = [
                client.publish(
                    mqtt5.PublishPacket(
                        topic=f"{settings.topic_prefix}/sensorLogData",
                        payload=json.dumps(sensor(i)).encode(),
                        qos=mqtt5.QoS.AT_LEAST_ONCE,
                    )
                )
                for i in range(per_device)
            ]
            for f in futures:
                puback = f.result(60).puback
                results[k].append(int(puback.reason_code) if puback is not None else 0)

        threads = [threading.Thread(target=flood, args=(k, c)) for k, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        accepted = [r.count(0) for r in results]
        refused = [r.count(0x97) for r in results]
        print(
            f"\n5. default quota (100 publishes/s per device, one second of burst), 4 devices each sending "
            f"{per_device} as fast as they can for {elapsed:.1f} s: accepted {', '.join(map(str, accepted))} "
            f"(the bound is 100 + 100 x {elapsed:.1f} s = {100 + 100 * elapsed:.0f} each), "
            f"refused with 0x97: {sum(refused):,}"
        )
        for c in clients:
            c.stop()
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":
    main()
