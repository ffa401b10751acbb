from __future__ import annotations

import pytest

from core.access.sessions import operator
from core.config import load_settings, save_user_settings
from core.errors import ConfigError


def test_defaults(tmp_path):
    s = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path)}, secrets_file=tmp_path / "none.toml")
    assert (s.backend, s.collection, s.match_threshold, s.topic_prefix, s.device_id) == (
        "local",
        "facegate",
        80.0,
        "handson",
        "id001",
    )


@pytest.mark.parametrize(
    "var, value, fragment",
    [
        ("FACEGATE_BACKEND", "azure", "FACEGATE_BACKEND"),
        ("FACEGATE_MATCH_THRESHOLD", "eighty", "FACEGATE_MATCH_THRESHOLD"),
        ("FACEGATE_MATCH_THRESHOLD", "120", "between 0 and 100"),
        ("FACEGATE_COLLECTION", "my collection", "FACEGATE_COLLECTION"),
        ("FACEGATE_API_PORT", "99999", "FACEGATE_API_PORT"),
        ("FACEGATE_APP_PORT", "8765", "FACEGATE_API_PORT and FACEGATE_APP_PORT are both 8765"),
        ("FACEGATE_PHOTOS_BUCKET", "Bad_Bucket", "FACEGATE_PHOTOS_BUCKET"),
    ],
)
def test_wrong_values_name_the_variable(tmp_path, var, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path), var: value}, secrets_file=tmp_path / "none.toml")
    assert fragment in str(err.value)


def test_precedence_secrets_then_saved_then_env(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'FACEGATE_COLLECTION = "from-secrets"\n[facegate]\ndevice_id = "dev-secret"\nmatch_threshold = 85\n'
    )
    env = {"FACEGATE_DATA_DIR": str(tmp_path)}
    s = load_settings(env=env, secrets_file=secrets)
    assert (s.collection, s.device_id, s.match_threshold) == ("from-secrets", "dev-secret", 85.0)
    with operator(s, "tests"):
        s = save_user_settings(s, {"match_threshold": 90, "device_id": "phone-1"})
    assert s.match_threshold == 90.0
    again = load_settings(env=env, secrets_file=secrets)
    assert (again.match_threshold, again.device_id) == (90.0, "phone-1")
    env["FACEGATE_MATCH_THRESHOLD"] = "70"
    assert load_settings(env=env, secrets_file=secrets).match_threshold == 70.0


def test_save_refuses_bad_or_unknown_settings(tmp_path):
    s = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path)}, secrets_file=tmp_path / "none.toml")
    with operator(s, "tests"), pytest.raises(ConfigError):
        save_user_settings(s, {"match_threshold": 150})
    with operator(s, "tests"), pytest.raises(ConfigError):
        save_user_settings(s, {"backend": "aws"})
    assert not (tmp_path / "settings.json").exists()


def test_broken_secrets_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "secrets.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path)}, secrets_file=bad)


def test_api_key_never_in_public_dict(tmp_path):
    s = load_settings(
        env={"FACEGATE_DATA_DIR": str(tmp_path), "FACEGATE_API_KEY": "sekret"}, secrets_file=tmp_path / "none.toml"
    )
    assert "sekret" not in repr(s) and s.public_dict()["api_key"] == "***"
