"""Who may do what: a viewer cannot enrol, rename, delete, correct, change settings or see
captures — not through the pages and not by calling core directly; the admin password is
stored hashed, sessions expire, wrong passwords are throttled, first run is not open access."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.access import passwords, sessions, throttle
from core.access.sessions import AccessControl, AdminPasswordNotSet, AdminRequired, Session
from core.config import load_settings, save_user_settings
from core.errors import AccessDenied, Throttled
from core.usecases import history, people, retention
from tests.app.conftest import ROOT, _start, jpeg, texts

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def _viewer_calls(services, settings):
    """Every admin-only core entry point, called the way a page would call it."""
    photo = b"\xff\xd8 not really"
    return {
        "enrol_person": lambda: people.enrol_person(services, "Mallory", [("m.jpg", photo)]),
        "index_one": lambda: people.index_one(services, "Mallory", photo, "m.jpg"),
        "list_people": lambda: people.list_people(services),
        "get_person": lambda: people.get_person(services, "amy"),
        "thumbnail": lambda: people.thumbnail(services, "people/amy/x.thumb.jpg"),
        "rename_person": lambda: people.rename_person(services, "amy", "Mallory"),
        "delete_face": lambda: people.delete_face(services, "amy", "00000000-0000-0000-0000-000000000000"),
        "delete_person": lambda: retention.delete_person(services, "amy"),
        "list_captures": lambda: history.list_captures(services),
        "get_capture": lambda: history.get_capture(services, "cam_20260101000000"),
        "delete_capture": lambda: history.delete_capture(services, "cam_20260101000000"),
        "purge_expired": lambda: history.purge_expired(services),
        "correct_as_person": lambda: history.correct_as_person(services, "cam_20260101000000", "amy"),
        "enrol_as_new_person": lambda: history.enrol_as_new_person(services, "cam_20260101000000", "Mallory"),
        "mark_wrong_match": lambda: history.mark_wrong_match(services, "cam_20260101000000"),
        "save_user_settings": lambda: save_user_settings(settings, {"match_threshold": 1}),
        "purge": lambda: retention.purge(services),
        "forget_person": lambda: retention.forget_person(services, "amy"),
    }


def _collection_state(services):
    return services.faces.faces_by_external_id(services.settings.collection)


def test_a_viewer_cannot_call_any_admin_function_directly(settings, services, labelled):
    ctl = sessions.access_control(settings)
    with sessions.operator(settings, "tests"):
        people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
        ctl.set_admin_password(PASSWORD)
    before = _collection_state(services)
    settings_file = Path(settings.data_dir) / "settings.json"
    viewer = ctl.oidc_session("visitor@example.com")  # signed in, but not an admin
    forged = Session("admin", sessions.ADMIN, "password", 0, 9e18, "made-up", 0, ctl)
    refused = {}
    for who, session in (("anonymous", None), ("viewer", viewer), ("forged", forged)):
        with sessions.acting_as(session):
            for name, call in _viewer_calls(services, settings).items():
                with pytest.raises(AdminRequired):
                    call()
                refused[(who, name)] = True
    assert len(refused) == 3 * 18
    # Nothing changed: same people, same faces, no settings file, no new objects.
    assert _collection_state(services) == before
    assert not settings_file.exists()


def test_the_operator_and_a_signed_in_admin_may(settings, services):
    ctl = sessions.access_control(settings)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
        assert people.list_people(services) == []
    admin = ctl.sign_in(PASSWORD, client="t")
    with sessions.acting_as(admin):
        assert save_user_settings(settings, {"match_threshold": 90}).match_threshold == 90
        assert history.list_captures(services) == []


def test_password_is_stored_hashed_and_first_run_is_not_open(settings):
    ctl = sessions.access_control(settings)
    assert ctl.password_source() == "unset"
    with pytest.raises(AdminPasswordNotSet):
        ctl.sign_in("", client="t")
    # First run: the setup code (an owner-only file) or the operator, nobody else.
    code_file = ctl.setup_code_file()
    assert oct(code_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(AccessDenied):
        ctl.set_admin_password(PASSWORD, setup_code="not-the-code")
    with pytest.raises(AdminRequired):
        ctl.set_admin_password(PASSWORD)  # no code, no session
    ctl.set_admin_password(PASSWORD, setup_code=code_file.read_text())
    assert not code_file.exists()
    stored = json.loads(ctl.path.read_text())
    assert PASSWORD not in ctl.path.read_text()
    assert stored["admin_password_hash"].startswith("$argon2id$")
    assert oct(ctl.path.stat().st_mode & 0o777) == "0o600"
    assert ctl.sign_in(PASSWORD, client="t").is_admin
    with pytest.raises(AccessDenied):
        ctl.sign_in("wrong password!", client="t")


def test_argon2id_hashes_verify_and_broken_ones_match_nothing():
    hashed = passwords.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and hashed != passwords.hash_password(PASSWORD)  # salted
    assert passwords.verify_password(PASSWORD, hashed) and not passwords.verify_password(PASSWORD + "x", hashed)
    broken_ones = ("", "scrypt$1$2", "scrypt$x$y$z$a$b", "$argon2id$garbage", "$argon2id$v=19$m=8,t=1,p=1$", "plain")
    for broken in broken_ones:
        assert not passwords.verify_password(PASSWORD, broken)
    # Parameters are read from the hash: one made with other (stronger) parameters still verifies.
    from argon2 import PasswordHasher

    stronger = PasswordHasher(time_cost=3, memory_cost=32 * 1024, parallelism=2).hash(PASSWORD)
    assert passwords.verify_password(PASSWORD, stronger) and not passwords.verify_password(PASSWORD + "x", stronger)


def test_a_scrypt_hash_stored_by_an_earlier_version_still_signs_in(settings):
    """No admin is locked out by the upgrade: the scrypt hash an earlier version wrote to
    access.json still verifies (read only; setting the password again stores argon2id)."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert passwords.verify_password(PASSWORD, old) and not passwords.verify_password(PASSWORD + "x", old)
    ctl = AccessControl(settings)
    ctl.path.parent.mkdir(parents=True, exist_ok=True)
    ctl.path.write_text(json.dumps({"admin_password_hash": old, "generation": 1}))
    assert ctl.sign_in(PASSWORD, client="t").is_admin
    with pytest.raises(AccessDenied):
        ctl.sign_in("wrong password!", client="t")


def test_sessions_expire_when_idle_and_after_twelve_hours(settings):
    clock = Clock()
    ctl = AccessControl(settings, clock=clock)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
    s = ctl.sign_in(PASSWORD, client="t")
    clock.now += settings.session_idle_minutes * 60 - 5
    assert ctl.session(s.token) is s and sessions.is_admin(s)  # use keeps it alive
    clock.now += settings.session_idle_minutes * 60 + 1
    assert ctl.session(s.token) is None
    with pytest.raises(AdminRequired):
        sessions.require_admin(s)
    # Kept busy, it still ends after 12 hours.
    s = ctl.sign_in(PASSWORD, client="t")
    for _ in range(int(sessions.MAX_SESSION_S // 600) + 1):
        clock.now += 600
        ctl.session(s.token)
    assert ctl.session(s.token) is None


def test_changing_the_password_ends_other_sessions(settings):
    ctl = sessions.access_control(settings)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
    mine, other = ctl.sign_in(PASSWORD, "a"), ctl.sign_in(PASSWORD, "b")
    ctl.set_admin_password("a brand new password", session=mine)
    assert ctl.session(other.token) is None
    assert ctl.session(mine.token) is not None
    with pytest.raises(AccessDenied):
        ctl.sign_in(PASSWORD, "c")


def test_wrong_passwords_are_throttled_per_client_then_overall(settings, monkeypatch):
    clock = Clock()
    ctl = AccessControl(settings, clock=clock)
    with sessions.operator(settings, "tests"):
        ctl.set_admin_password(PASSWORD)
    for _ in range(throttle.FREE_FAILURES):
        with pytest.raises(AccessDenied):
            ctl.sign_in("guess guess guess", client="10.0.0.9")
    with pytest.raises(Throttled):
        ctl.sign_in(PASSWORD, client="10.0.0.9")  # even the right one must wait
    assert ctl.sign_in(PASSWORD, client="10.0.0.7").is_admin  # another client is not punished
    clock.now += 2
    assert ctl.sign_in(PASSWORD, client="10.0.0.9").is_admin  # waited: allowed, and reset
    # Many clients sharing the guessing hit the overall slow-down: one attempt per
    # GLOBAL_SPACING_S from clients the app does not know (tests/security/test_sign_in_throttle.py).
    for i in range(sessions.GLOBAL_FAILURES - sessions.FREE_FAILURES):  # the first five count too
        with pytest.raises(AccessDenied):
            ctl.sign_in("guess guess guess", client=f"spray-{i}")
    with pytest.raises(AccessDenied):
        ctl.sign_in("guess guess guess", client="spray-next")
    with pytest.raises(Throttled):
        ctl.sign_in(PASSWORD, client="fresh")
    clock.now += sessions.GLOBAL_SPACING_S
    assert ctl.sign_in(PASSWORD, client="fresh").is_admin


def test_password_from_secrets_hash_or_one_time_plain(tmp_path):
    hashed = passwords.hash_password(PASSWORD)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[facegate]\nadmin_password_hash = "{hashed}"\n')
    s = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path / "a")}, secrets_file=secrets)
    assert "admin_password_hash" not in repr(s) and s.public_dict()["admin_password_hash"] == "***"
    ctl = AccessControl(s)
    assert ctl.password_source() == "secrets" and ctl.sign_in(PASSWORD, "t").is_admin
    with sessions.operator(s, "tests"), pytest.raises(AccessDenied, match="FACEGATE_ADMIN_PASSWORD_HASH"):
        ctl.set_admin_password("another password")
    # One-time plain password: hashed into access.json on first use, never stored in clear.
    s = load_settings(
        env={"FACEGATE_DATA_DIR": str(tmp_path / "b"), "FACEGATE_ADMIN_PASSWORD": PASSWORD},
        secrets_file=tmp_path / "none.toml",
    )
    ctl = AccessControl(s)
    assert ctl.password_source() == "file"
    assert PASSWORD not in ctl.path.read_text()
    assert ctl.sign_in(PASSWORD, "t").is_admin


def test_oidc_admins_by_email(tmp_path):
    s = load_settings(
        env={"FACEGATE_DATA_DIR": str(tmp_path), "FACEGATE_ADMIN_EMAILS": "Boss@Example.com, it@x.jp"},
        secrets_file=tmp_path / "none.toml",
    )
    ctl = AccessControl(s)
    assert ctl.oidc_session("boss@example.com").is_admin
    assert not ctl.oidc_session("visitor@example.com").is_admin
    with pytest.raises(AccessDenied):
        ctl.oidc_session(None)


def test_entry_points_never_act_as_the_operator():
    """Only the CLI and the serve loop may act as the operator; pages, the Web API and the
    Lambda handlers must not."""
    sources = [
        *ROOT.glob("pages/*.py"),
        ROOT / "streamlit_app.py",
        *ROOT.glob("lambda_src/*.py"),
        ROOT / "core" / "web" / "routes.py",
        ROOT / "core" / "web" / "server.py",
    ]
    for path in sources:
        assert not re.search(r"\boperator(_session)?\(", path.read_text()), path


def _link_pages(at) -> set[str]:
    return {link.proto.page for link in at.get("page_link")}


def test_viewer_in_the_app_sees_only_the_camera_and_can_sign_in(settings, services, labelled):
    at = _start(None)
    assert {"people", "history", "analytics", "quicksight", "settings"}.isdisjoint(_link_pages(at))
    # A viewer still uses the camera: a capture goes through.
    with sessions.operator(settings, "tests"):
        people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
    at.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["amy"][3]), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert "amy" in texts(at)
    # First run: the admin page asks for the setup code, never opens up.
    at.switch_page(str(ROOT / "pages" / "admin.py")).run()
    assert "admin-setup-code" in texts(at)
    code = sessions.access_control(settings).setup_code_file().read_text().strip()
    at.text_input(key="admin_setup_code").input("wrong")
    at.text_input(key="admin_setup_new").input(PASSWORD)
    at.text_input(key="admin_setup_again").input(PASSWORD)
    at.button[0].click().run()
    assert {"people", "history", "analytics", "quicksight", "settings"}.isdisjoint(_link_pages(at))
    at.text_input(key="admin_setup_code").input(code)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert {"people", "history", "analytics", "quicksight", "settings"} <= _link_pages(at)
    # Sign out: the admin pages go away again.
    at.switch_page(str(ROOT / "pages" / "admin.py")).run()
    at.button(key="admin_sign_out").click().run()
    assert {"people", "history", "analytics", "quicksight", "settings"}.isdisjoint(_link_pages(at))
    # Wrong password: a clear refusal that says what was wrong; the right one signs in.
    at.text_input(key="admin_password").input("not the password")
    at.button[0].click().run()
    assert "パスワードが違います。" in texts(at)
    at.text_input(key="admin_password").input(PASSWORD)
    at.button[0].click().run()
    assert "people" in _link_pages(at)


def test_admin_pages_are_not_even_registered_for_a_viewer(settings):
    at = _start(None)
    for page in ("people", "history", "analytics", "quicksight", "settings"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(str(ROOT / "pages" / f"{page}.py"))
