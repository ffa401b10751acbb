"""``python -m core aws-env``: the shell lines that point an unmodified boto3 script or ``aws``
command at FaceGate's endpoint.

By default they name a *profile* in two files FaceGate owns (``<data dir>/aws/cli/config`` and
``.../credentials``, owner-only) rather than exporting the secret: the secret then stays in
one owner-only file instead of the environment (which every child process inherits, and which
``ps e``, crash reports and pasted shell history can show), and the learner's own ``~/.aws``
(which may hold real AWS keys) is neither read nor written. ``--keys`` exports
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY instead, for tools that read no profile.

The endpoint is given as an IP address (``http://127.0.0.1:8766``): botocore then addresses
S3 buckets path-style (``/bucket/key``), which needs no DNS; the profile also says
``addressing_style = path`` for host names. There is no environment variable for the
addressing style; virtual-host requests (``<bucket>.localhost``) are served as well.
"""

from __future__ import annotations

import configparser
import io
import shlex
from pathlib import Path

from core.app.lan import certificate_paths
from core.awsapi.credentials import Credential, CredentialStore
from core.config import current_collection
from core.errors import ConfigError, ResourceNotFound
from core.storage.files import atomic_write_bytes, ensure_dir

_CLEARED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_REKOGNITION",
    "AWS_ENDPOINT_URL_IOT_DATA_PLANE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def pick_credential(store: CredentialStore, name: str | None) -> tuple[Credential, str | None]:
    """The newest active key of ``name`` (or the newest active admin key); when there is no
    admin key at all, one named ``learner`` is made. Returns (credential, a note or None)."""
    active = [c for c in store.list() if c.state() == "active"]
    if name:
        mine = [c for c in active if c.name == name]
        if not mine:
            raise ResourceNotFound(
                f"no active access key named {name!r}: "
                f"python -m core aws-credentials create --name {name} --role device"
            )
        return mine[-1], None
    admins = [c for c in active if c.role == "admin"]
    if admins:
        return admins[-1], None
    cred = store.create("learner", "admin")
    return cred, f"made admin access key {cred.access_key_id} named 'learner' (python -m core aws-credentials list)"


def endpoint_for(settings, host: str | None, https: bool) -> str:
    if host is None:
        host = settings.bind_host if settings.bind_host not in ("0.0.0.0", "::", "localhost", "") else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'https' if https else 'http'}://{host}:{settings.aws_port}"


def _merge_ini(path: Path, section: str, values: dict) -> None:
    parser = configparser.RawConfigParser()
    if path.is_file():
        parser.read(path, encoding="utf-8")
    if parser.has_section(section):
        parser.remove_section(section)
    parser.add_section(section)
    for k, v in values.items():
        parser.set(section, k, v)
    buf = io.StringIO()
    parser.write(buf)
    atomic_write_bytes(path, buf.getvalue().encode())


def write_profile(settings, cred: Credential, endpoint: str) -> tuple[Path, Path, str]:
    """Write (or update) the profile ``facegate-<name>``; returns (config, credentials, profile)."""
    folder = ensure_dir(Path(settings.data_dir) / "aws" / "cli")
    profile = f"facegate-{cred.name}"
    config, creds = folder / "config", folder / "credentials"
    _merge_ini(
        config,
        f"profile {profile}",
        {
            "region": settings.region,
            "endpoint_url": endpoint,
            "output": "json",
            "s3": "\naddressing_style = path\nsignature_version = s3v4",
        },
    )
    _merge_ini(
        creds, profile, {"aws_access_key_id": cred.access_key_id, "aws_secret_access_key": cred.secret_access_key}
    )
    return config, creds, profile


def env_lines(settings, name: str | None = None, keys: bool = False, host: str | None = None, https: bool = False):
    """(export lines for a POSIX shell, notes for the human). Raises ConfigError in the aws
    world, ResourceNotFound for an unknown ``name``."""
    if settings.backend != "local":
        raise ConfigError(
            "the aws world uses AWS itself: keep your AWS credentials and unset AWS_ENDPOINT_URL "
            "(FaceGate's endpoint serves the local world)"
        )
    store = CredentialStore(settings.data_dir)
    cred, note = pick_credential(store, name)
    endpoint = endpoint_for(settings, host, https)
    q = shlex.quote
    lines = [f"unset {' '.join(_CLEARED)}"]
    notes = [note] if note else []
    if keys:
        lines.append("unset AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE")
        lines += [
            f"export AWS_ACCESS_KEY_ID={q(cred.access_key_id)}",
            f"export AWS_SECRET_ACCESS_KEY={q(cred.secret_access_key)}",
        ]
        notes.append(
            "--keys puts the secret in your environment (inherited by every program you start); "
            "without it the secret stays in one owner-only file"
        )
    else:
        config, creds, profile = write_profile(settings, cred, endpoint)
        lines += [
            f"export AWS_CONFIG_FILE={q(str(config.resolve()))}",
            f"export AWS_SHARED_CREDENTIALS_FILE={q(str(creds.resolve()))}",
            f"export AWS_PROFILE={q(profile)}",
        ]
    lines += [
        f"export AWS_ENDPOINT_URL={q(endpoint)}",
        f"export AWS_DEFAULT_REGION={q(settings.region)}",
        f"export AWS_REGION={q(settings.region)}",
    ]
    if https:
        lines.append(f"export AWS_CA_BUNDLE={q(str(certificate_paths(settings.data_dir)[0].resolve()))}")
    notes.append(
        f"{cred.role} credentials {cred.access_key_id} ({cred.name}); endpoint {endpoint}; region {settings.region}"
    )
    notes.append(
        f"the app and the Web API search collection {current_collection(settings)!r}; after "
        "`aws rekognition create-collection --collection-id NAME`, switch with: "
        "python -m core faces use-collection NAME"
    )
    return lines, notes
