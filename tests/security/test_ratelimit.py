"""Per-key rate limit of the local Web API (API Gateway's usage plan: rate 50/s, burst 200)."""

from __future__ import annotations

import pytest

from core.access.throttle import RateLimiter
from tests.api.conftest import http
from tests.security.conftest import running_api


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def test_token_bucket_burst_then_rate():
    clock = Clock()
    limiter = RateLimiter(rate=50, burst=200, clock=clock)
    assert sum(limiter.allow("k1") for _ in range(250)) == 200  # the burst, then nothing
    assert limiter.allow("k2")  # another key has its own bucket
    assert limiter.retry_after("k1") == pytest.approx(1 / 50)
    clock.now += 0.1001  # 0.1 s at 50/s = 5 more
    assert sum(limiter.allow("k1") for _ in range(10)) == 5
    clock.now += 3600  # refills to the burst, not beyond
    assert sum(limiter.allow("k1") for _ in range(500)) == 200


def test_memory_is_bounded_under_many_keys():
    from core.access import throttle

    limiter = RateLimiter(rate=1, burst=1)
    for i in range(throttle.MAX_KEYS + 500):
        limiter.allow(f"key-{i}")
    assert len(limiter) == throttle.MAX_KEYS


def test_local_api_answers_429_per_key(tmp_path, monkeypatch, settings):
    import dataclasses

    from core.bootstrap import build_services
    from core.web.apikeys import ApiKeyStore

    slow = dataclasses.replace(settings, api_rate_per_second=0.01, api_burst=5)
    services = build_services(slow)
    keys = ApiKeyStore(slow.data_dir)
    first, second = keys.create("first")[1], keys.create("second")[1]
    try:
        with running_api(services) as server:
            url = server.url + "/search"
            codes = [http(url, "{}", key=first).status for _ in range(8)]
            assert codes == [400] * 5 + [429] * 3
            refused = http(url, "{}", key=first)
            assert refused.status == 429 and refused.json == {"message": "Too Many Requests"}
            assert http(url, "{}", key=second).status == 400  # the other key is not throttled
            assert http(url, "{}", key="not-a-key").status == 403  # no bucket for strangers
    finally:
        services.close()
