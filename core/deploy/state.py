"""What ``deploy up`` keeps on this machine, and ``deploy down`` removes.

- the device certificate and its private key, owner-only (0600) under
  ``<data dir>/aws/<stack>/device/`` (the key is generated here and never leaves it);
- the app's configuration: a marked block of ``FACEGATE_*`` keys at the top of the Streamlit
  secrets file (``.streamlit/secrets.toml`` or ``FACEGATE_SECRETS_FILE``), which
  ``core.config`` already reads. Everything outside the block is the user's and is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError, ResourceNotFound
from core.storage.files import atomic_write_bytes, ensure_dir

BLOCK_START = "# >>> facegate deploy: written by `python -m core deploy up`; removed by `deploy down` >>>"
BLOCK_END = "# <<< facegate deploy <<<"


@dataclass(frozen=True)
class DeviceCredentials:
    """One device's IoT Core identity: certificate, private key and the client id it must use."""

    cert_file: Path
    key_file: Path
    client_id: str
    certificate_id: str
    certificate_arn: str


def stack_dir(settings: Settings, stack_name: str | None = None) -> Path:
    return Path(settings.data_dir) / "aws" / (stack_name or settings.stack_name)


def _device_dir(settings: Settings, stack_name: str | None = None) -> Path:
    return stack_dir(settings, stack_name) / "device"


def save_device_credentials(
    settings: Settings,
    stack_name: str,
    *,
    cert_pem: str,
    key_pem: bytes,
    client_id: str,
    certificate_id: str,
    certificate_arn: str,
) -> DeviceCredentials:
    """Write the certificate, key and their description (all 0600, folder 0700)."""
    folder = ensure_dir(_device_dir(settings, stack_name))
    os.chmod(folder, 0o700)
    creds = DeviceCredentials(
        folder / "device.pem.crt", folder / "private.pem.key", client_id, certificate_id, certificate_arn
    )
    atomic_write_bytes(creds.key_file, key_pem)
    atomic_write_bytes(creds.cert_file, cert_pem.encode())
    meta = {"client_id": client_id, "certificate_id": certificate_id, "certificate_arn": certificate_arn}
    atomic_write_bytes(folder / "certificate.json", json.dumps(meta, indent=2).encode())
    return creds


def device_credentials(settings: Settings, stack_name: str | None = None) -> DeviceCredentials:
    """The deployed device's credentials. Raises ResourceNotFound when ``deploy up`` has not
    created them on this machine."""
    folder = _device_dir(settings, stack_name)
    try:
        meta = json.loads((folder / "certificate.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ResourceNotFound(f"no device certificate in {folder}; run `python -m core deploy up`") from None
    creds = DeviceCredentials(
        folder / "device.pem.crt",
        folder / "private.pem.key",
        meta["client_id"],
        meta["certificate_id"],
        meta["certificate_arn"],
    )
    if not (creds.cert_file.is_file() and creds.key_file.is_file()):
        raise ResourceNotFound(f"device certificate files are missing in {folder}; run `deploy up` again")
    return creds


def forget_device_credentials(settings: Settings, stack_name: str) -> None:
    """Remove the current certificate and key (after IoT deleted the certificate)."""
    folder = _device_dir(settings, stack_name)
    for name in ("certificate.json", "device.pem.crt", "private.pem.key"):
        (folder / name).unlink(missing_ok=True)


# A key whose certificate IoT may have created without our hearing back (the answer to
# CreateCertificateFromCsr was lost): kept until that certificate is found and retired.
def save_pending_key(settings: Settings, stack_name: str, key_pem: bytes) -> Path:
    folder = ensure_dir(_device_dir(settings, stack_name))
    os.chmod(folder, 0o700)
    path = folder / "pending.pem.key"
    atomic_write_bytes(path, key_pem)
    return path


def pending_key(settings: Settings, stack_name: str) -> tuple[bytes, float] | None:
    """``(key PEM, time it was written)`` or None."""
    path = _device_dir(settings, stack_name) / "pending.pem.key"
    try:
        return path.read_bytes(), path.stat().st_mtime
    except OSError:
        return None


def clear_pending_key(settings: Settings, stack_name: str) -> None:
    (_device_dir(settings, stack_name) / "pending.pem.key").unlink(missing_ok=True)


# Certificates this machine made that IoT still has but FaceGate no longer uses (a retirement
# that did not finish): `up` and `down` retry them.
def _stale_file(settings: Settings, stack_name: str) -> Path:
    return _device_dir(settings, stack_name) / "stale-certificates.json"


def stale_certificates(settings: Settings, stack_name: str) -> list[str]:
    try:
        return list(json.loads(_stale_file(settings, stack_name).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return []


def set_stale_certificates(settings: Settings, stack_name: str, arns: list[str]) -> None:
    path = _stale_file(settings, stack_name)
    if not arns:
        path.unlink(missing_ok=True)
        return
    ensure_dir(path.parent)
    atomic_write_bytes(path, json.dumps(sorted(set(arns)), indent=2).encode())


def remove_local_state(settings: Settings, stack_name: str) -> None:
    shutil.rmtree(stack_dir(settings, stack_name), ignore_errors=True)


# ------------------------------------------------------------------ app configuration
def secrets_path(env: dict | None = None) -> Path:
    """The secrets file ``core.config.load_settings`` reads."""
    source = os.environ if env is None else env
    return Path(source.get("FACEGATE_SECRETS_FILE", ".streamlit/secrets.toml"))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _without_block(text: str) -> str:
    start, end = text.find(BLOCK_START), text.find(BLOCK_END)
    if start == -1 or end == -1:
        return text
    return text[:start] + text[end + len(BLOCK_END) :].lstrip("\n")


def write_app_config(path: Path, values: dict) -> Path:
    """Put ``values`` (setting name -> value) as top-level ``FACEGATE_*`` keys in a marked
    block at the top of ``path`` (top-level keys must precede TOML tables), keeping the rest.
    The file is owner-only because it holds the API key. Raises ConfigError when the user's
    own part sets the same keys (TOML forbids duplicates)."""
    path = Path(path)
    rest = _without_block(path.read_text(encoding="utf-8")) if path.is_file() else ""
    lines = [BLOCK_START] + [f"FACEGATE_{k.upper()} = {_toml_value(v)}" for k, v in values.items()] + [BLOCK_END]
    text = "\n".join(lines) + "\n" + (("\n" + rest) if rest.strip() else "")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot write the deployed configuration into {path}: {exc}. Remove the "
            "FACEGATE_* keys you set there yourself and run `deploy up` again"
        ) from None
    atomic_write_bytes(path, text.encode())
    return path


def remove_app_config(path: Path) -> bool:
    """Remove the marked block (the app goes back to its other settings). True if one was there."""
    path = Path(path)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    rest = _without_block(text)
    if rest == text:
        return False
    atomic_write_bytes(path, rest.encode())
    return True
