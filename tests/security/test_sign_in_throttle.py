"""Sign-in throttling that slows guessing without letting an attacker lock the owner out
(issue 13 §11): 30 failures from anyone used to lock the real admin out everywhere for 10
minutes; the setup-code throttle was one bucket shared by every client; and any local process
(or a client behind nothing at all) chose its throttle identity with ``X-Forwarded-For``.

The last one is checked on the real app: a browser sending ``X-Forwarded-For`` over loopback
fails a sign-in and the app's log says which client it counted."""

from __future__ import annotations

import pytest

from core.access import sessions
from core.access.sessions import AccessControl, WrongPassword, WrongSetupCode
from core.cli.app import forwarded_allow_ips
from core.config import load_settings
from core.errors import Throttled
from tests.security.test_roles import PASSWORD, Clock


@pytest.fixture
def ctl(settings):
    clock = Clock()
    ctl = AccessControl(settings, clock=clock)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
    return ctl


def attack(ctl: AccessControl, failures: int, client=lambda i: f"203.0.113.{i % 250}") -> None:
    """``failures`` wrong passwords from many addresses, as fast as the throttle lets them in."""
    done = 0
    while done < failures:
        try:
            ctl.sign_in("guess guess guess", client=client(done))
        except WrongPassword:
            done += 1
        except Throttled:
            ctl.clock.now += 0.5


def test_an_attack_never_locks_the_owner_out(ctl):
    # The owner signed in from this browser before: it is a known device.
    owner = ctl.sign_in(PASSWORD, client="192.168.1.20")
    device = ctl.remember_device(owner)
    ctl.sign_out(owner.token)

    attack(ctl, 200)  # far past the 30 failures that used to lock everyone out for 10 minutes
    # The known device signs in at once, even from the attacker's own address.
    assert ctl.sign_in(PASSWORD, client="203.0.113.1", device=device).is_admin
    # A device the app does not know is slowed, never locked: it gets in within a few tries.
    waited = 0.0
    while True:
        try:
            assert ctl.sign_in(PASSWORD, client="198.51.100.7").is_admin
            break
        except Throttled:
            ctl.clock.now += 0.5
            waited += 0.5
    assert waited <= sessions.GLOBAL_SPACING_S


def test_the_overall_slow_down_still_bounds_distributed_guessing(ctl):
    attack(ctl, sessions.GLOBAL_FAILURES)
    start = ctl.clock.now
    attack(ctl, 100)  # from 250 addresses, none of them backed off yet
    # 100 guesses took at least 99 spacings: ~1,800 guesses an hour at most, whatever the
    # number of addresses (each guess also costs the server a slow password hash).
    assert ctl.clock.now - start >= 99 * sessions.GLOBAL_SPACING_S


def test_a_known_device_is_its_own_client_and_expires(ctl):
    owner = ctl.sign_in(PASSWORD, client="local")
    device = ctl.remember_device(owner)
    # Someone on the same address (every loopback client is "local") fails again and again.
    for _ in range(sessions.FREE_FAILURES + 3):
        try:
            ctl.sign_in("guess guess guess", client="local")
        except (WrongPassword, Throttled):
            ctl.clock.now += 0.1
    with pytest.raises(Throttled):
        ctl.sign_in(PASSWORD, client="local")
    assert ctl.sign_in(PASSWORD, client="local", device=device).is_admin
    # A device token is no key: a wrong password with it is still wrong and backs off.
    for _ in range(sessions.FREE_FAILURES):
        with pytest.raises(WrongPassword):
            ctl.sign_in("guess guess guess", client="local", device=device)
    with pytest.raises(Throttled):
        ctl.sign_in(PASSWORD, client="local", device=device)
    # Made-up and expired tokens are unknown devices.
    assert not ctl.known_device("made-up")
    ctl.clock.now += sessions.DEVICE_DAYS * 86400
    assert not ctl.known_device(device)
    # Only an admin session gets a device token.
    with pytest.raises(sessions.AdminRequired):
        ctl.remember_device(None)


def test_wrong_setup_codes_from_one_client_do_not_block_another(tmp_path):
    s = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path / "d")}, secrets_file=tmp_path / "none.toml")
    ctl = AccessControl(s, clock=Clock())
    code = ctl.setup_code_file().read_text().strip()
    for _ in range(sessions.FREE_FAILURES):
        with pytest.raises(WrongSetupCode):
            ctl.set_admin_password(PASSWORD, setup_code="000000", client="203.0.113.5")
    with pytest.raises(Throttled):
        ctl.set_admin_password(PASSWORD, setup_code=code, client="203.0.113.5")
    assert ctl.set_admin_password(PASSWORD, setup_code=code, client="192.168.1.20") == 1


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("", ""), ("127.0.0.1", "127.0.0.1"), (" 10.0.0.0/8 , 127.0.0.1 ", "10.0.0.0/8,127.0.0.1")],
)
def test_forwarding_headers_are_believed_only_from_configured_proxies(tmp_path, setting, expected):
    s = load_settings(
        env={"FACEGATE_DATA_DIR": str(tmp_path / "d"), "FACEGATE_TRUSTED_PROXIES": setting},
        secrets_file=tmp_path / "none.toml",
    )
    assert forwarded_allow_ips(s) == expected
