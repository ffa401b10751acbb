"""Soak (bounded for CI): thousands of mixed requests against the local Web API in a child
process — no 5xx, the process stays up, memory stays within a bound after warm-up and no file
descriptor leaks. ``bench/soak.py`` runs the long version and prints the figures."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.slow

REQUESTS = 3000
RSS_GROWTH_LIMIT_MB = 40  # after warm-up; measured here: +1 to +5 MB per 3000 requests
FD_SLACK = 10  # the face store's connection pool (8) and a few sockets still closing


def test_api_survives_a_soak_without_growing(tmp_path, faces_dir):
    data = tmp_path / "data"
    key, probe = soak.prepare_world(data, sorted((faces_dir / "labelled" / "amy").glob("*.png"))[0])
    proc, url = soak.start_server(data)
    try:
        out = soak.run_soak(url, key, proc.pid, REQUESTS, clients=8, face_jpeg=probe, warmup=300)
        assert proc.poll() is None, "the API server died"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    statuses = out["statuses"]
    print(
        f"soak: {REQUESTS} requests in {out['seconds']:.1f} s, statuses {statuses}, "
        f"RSS {out['before']['rss_kb'] // 1024} -> {out['after']['rss_kb'] // 1024} MB, "
        f"fds {out['before']['fds']} -> {out['after']['fds']}"
    )
    assert sum(statuses.values()) == REQUESTS and not out["client_errors"]
    assert set(statuses) <= {200, 400, 403, 404, 413, 423}, statuses
    assert statuses[200] >= REQUESTS * 4 // 100 * 0.9  # the real searches and pre-flights got through
    growth_mb = (out["after"]["rss_kb"] - out["before"]["rss_kb"]) / 1024
    assert growth_mb < RSS_GROWTH_LIMIT_MB, growth_mb
    assert out["after"]["fds"] <= out["before"]["fds"] + FD_SLACK, (out["before"], out["after"])
