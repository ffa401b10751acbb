"""What a client can make the HTTP server hold (core.web.server.Limits), over real sockets:
slow-loris heads, endless header lines, too many headers, bodies too large, chunked or too slow.

The slow-loris test runs against the real ``python -m core api`` child process and watches its
memory; the others run a small Starlette app in this process with short timeouts."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.web.server import Limits, running
from tests.api.conftest import ServerProcess, http


def rss_kb(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    raise AssertionError("no VmRSS")


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed (or answered and closed) this connection."""
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(65536):
                return True
    except OSError:
        return True
    return False


@pytest.mark.slow
def test_slow_loris_with_64kb_header_lines_is_cut_off_and_memory_stays_bounded(world, api_key):
    server = ServerProcess(world.env)
    try:
        host, port = host_port(server.url)
        assert http(f"{server.url}/search", None, method="OPTIONS").status == 200
        before = rss_kb(server.proc.pid)
        conns = 200
        # One 64 KB header line after another, 16 of them (1 MB), a few KB per round.
        stream = b"".join(b"X-Pad-%02d: " % i + b"a" * (64 * 1024) + b"\r\n" for i in range(16))
        socks = []
        for _ in range(conns):
            s = socket.create_connection((host, port), timeout=10)
            s.setblocking(False)
            s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            socks.append([s, 0, False])  # socket, bytes sent, closed
        peak = before
        deadline = time.monotonic() + 60
        chunk = 4096
        while time.monotonic() < deadline and not all(closed for _s, _n, closed in socks):
            for entry in socks:
                s, sent, closed = entry
                if closed:
                    continue
                if closed_by_server(s):
                    entry[2] = True
                    continue
                if sent < len(stream):
                    try:
                        entry[1] += s.send(stream[sent : sent + chunk])
                    except BlockingIOError:
                        pass
                    except OSError:
                        entry[2] = True
            peak = max(peak, rss_kb(server.proc.pid))
            time.sleep(0.02)
        still_open = sum(not closed for _s, _n, closed in socks)
        most_sent = max(n for _s, n, _c in socks)
        for s, _n, _c in socks:
            s.close()
        assert still_open == 0, f"{still_open} of {conns} connections were never closed"
        # Each connection was cut soon after the 16 KB head limit: nobody got the whole 1 MB in
        # (what got past the server was only what the kernel buffered before it closed).
        assert most_sent < len(stream), most_sent
        # Unbounded, the server would hold every trickled line: 200 x 1 MB. It holds 16 KB each.
        grew_mb = (peak - before) / 1024
        assert grew_mb < 40, f"server RSS grew {grew_mb:.1f} MB under {conns} slow-loris connections"
        # ... and it still serves.
        assert http(f"{server.url}/search", "{}", key=api_key).status == 400
    finally:
        server.stop()


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


ECHO = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
SHORT = Limits(head_timeout_s=1.0, body_timeout_s=1.0, max_body_bytes=1000, max_headers=20)


def raw(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes or ``wait`` passes."""
    with socket.create_connection(host_port(url), timeout=wait) as s:
        s.sendall(data)
        out = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and out.rstrip().endswith(b"}"):
                break
        return out


def test_a_head_trickled_one_byte_at_a_time_is_closed_after_the_head_timeout():
    with running(ECHO, limits=SHORT) as server:
        socks = [socket.create_connection(host_port(server.url), timeout=5) for _ in range(50)]
        t0 = time.monotonic()
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        closed_at: dict[int, float] = {}
        for i in range(len(head)):
            for n, s in enumerate(socks):
                if n in closed_at:
                    continue
                try:
                    s.send(head[i : i + 1])
                except OSError:
                    closed_at[n] = time.monotonic() - t0
                    continue
                if closed_by_server(s):
                    closed_at[n] = time.monotonic() - t0
            if len(closed_at) == len(socks):
                break
            time.sleep(0.05)
        for s in socks:
            s.close()
        assert len(closed_at) == len(socks)
        assert max(closed_at.values()) < 4.0  # 1 s timeout, generous for a loaded machine
        # A connection that sends its head in time is served.
        answer = raw(server.url, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"bytes":2}')


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", b"413"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"411"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345", b"408"),  # the rest never comes
        (b"POST /echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(30)) + b"\r\n", b"431"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b"431"),  # head > 16 KB
    ],
    ids=["body-too-large", "chunked", "body-too-slow", "too-many-headers", "head-too-large"],
)
def test_limits_answer_before_any_work(request_bytes, status):
    with running(ECHO, limits=SHORT) as server:
        answer = raw(server.url, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]


def test_the_listening_socket_says_tcp_so_responses_are_not_delayed():
    """asyncio sets TCP_NODELAY only on sockets created with proto IPPROTO_TCP (accepted ones
    inherit it); with proto 0 every response waited ~45 ms for the client's delayed ACK."""
    import socket as sockets

    from core.web.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == sockets.IPPROTO_TCP
    finally:
        sock.close()
