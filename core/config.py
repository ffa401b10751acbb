"""Settings: defaults < ``.streamlit/secrets.toml`` < ``<data dir>/settings.json`` < environment.

In the aws world the stack owns the collection, the device id and the topic prefix (``deploy
up`` writes them into secrets.toml): ``settings.json`` cannot override them and the settings
page shows them read-only; they change only through ``deploy up`` (``STACK_OWNED``).

Every setting has one environment variable ``FACEGATE_<NAME>``. ``load_settings`` validates
and raises ``ConfigError`` with a message that names the variable and the accepted values.
The settings page writes ``settings.json`` through ``save_user_settings``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.errors import ConfigError
from core.storage.files import atomic_write_bytes

COLLECTION_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
DEVICE_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_\-:]{1,128}$")
TOPIC_PREFIX_PATTERN = re.compile(r"^[a-zA-Z0-9_\-]{1,64}(/[a-zA-Z0-9_\-]{1,64})*$")
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

# Below this match threshold different people are often taken for each other (Rekognition's
# own guidance: 99 for high-stakes use, 80 as the default); the settings page asks first.
LOW_MATCH_THRESHOLD = 50.0

# Settings a user may change from the settings page (saved in settings.json).
USER_SETTINGS = (
    "match_threshold",
    "collection",
    "device_id",
    "topic_prefix",
    "retention_match_hours",
    "retention_unknown_hours",
    "retention_log_days",
    "language",
)

# Settings the deployed stack owns in the aws world: the Web API searches the stack's collection
# (an app enrolling elsewhere identifies nobody, and `down` would leave those faces behind), the
# IoT policy allows only the stack's thing as client id and only the stack's topic prefix.
STACK_OWNED = ("collection", "device_id", "topic_prefix")


def stack_owned(backend: str) -> tuple[str, ...]:
    """The settings the settings page and settings.json may not change in ``backend``."""
    return STACK_OWNED if backend == "aws" else ()


@dataclass(frozen=True)
class Settings:
    """What FaceGate runs with. Field docs are in docs/configuration.md."""

    backend: str = "local"
    data_dir: Path = Path("data")
    collection: str = "facegate"
    region: str = "ap-northeast-1"
    device_id: str = "id001"
    topic_prefix: str = "handson"
    match_threshold: float = 80.0
    language: str = "auto"
    photos_bucket: str = "facegate-photos"
    faces_bucket: str = "facegate-faces"
    logs_bucket: str = "facegate-logs"
    sensor_table: str = "facegate-sensor"
    retention_match_hours: float = 7 * 24.0
    retention_unknown_hours: float = 8.0
    retention_log_days: float = 365.0
    # Local world endpoints (loopback by default).
    bind_host: str = "127.0.0.1"
    api_port: int = 8765
    mqtt_port: int = 8883
    app_port: int = 8501
    # The AWS-compatible endpoint (core.awsapi): S3, Rekognition and IoT Data for boto3 and
    # the AWS CLI via AWS_ENDPOINT_URL. Next to the Web API's port, away from LocalStack's 4566.
    aws_port: int = 8766
    # External MQTT broker or IoT Core endpoint; empty = the embedded local broker.
    mqtt_endpoint: str = ""
    # AWS world: filled from the deployed stack's outputs by `python -m core deploy up`.
    stack_name: str = "facegate"
    api_url: str = ""
    api_key: str = field(default="", repr=False)
    # The API key's id (not the key) and its usage plan: the settings page shows the quota left.
    api_key_id: str = ""
    usage_plan_id: str = ""
    quicksight_dashboards: str = ""
    quicksight_user_arn: str = ""
    quicksight_anonymous: bool = False
    # Origins allowed to embed the dashboards (the app's URL, e.g. https://192.168.1.20:8501),
    # comma-separated; passed as AllowedDomains so no console allow-list is needed.
    quicksight_allowed_domains: str = ""
    aws_account_id: str = ""
    glue_database: str = ""  # the stack's Glue database (Athena over the logs)
    athena_workgroup: str = ""
    # Telemetry: how records leave the app. "auto" = MQTT when a local broker is running
    # (or an endpoint is set), else "direct" into the event store; "mqtt" always via the outbox.
    publisher: str = "auto"
    # Certificates for FACEGATE_MQTT_ENDPOINT (empty = the local CA's device certificate).
    mqtt_ca_file: str = ""
    mqtt_cert_file: str = ""
    mqtt_key_file: str = ""
    # Firehose-like buffering of analysis logs before one object is written (course: 60 s / 5 MB).
    analysis_buffer_seconds: float = 60.0
    # Per-device quotas at the local broker and the IoT Data publish path (IoT Core's limits
    # per connection: 100 publishes/s, 512 KiB/s); 0 turns a quota off.
    device_messages_per_second: float = 100.0
    device_bytes_per_second: float = 512 * 1024.0
    # New device data is refused while the data dir's disk has less free space than this.
    disk_reserve_mb: float = 512.0
    # The zone of timestamps written without one (the course's devices stamp local time) and of
    # photo keys; empty = this machine's zone.
    timezone: str = ""
    # Access (core.access): the admin password hash from secrets, or a one-time plain password
    # that is hashed into <data dir>/access.json on first use; OIDC admins by e-mail.
    admin_password_hash: str = field(default="", repr=False)
    admin_password: str = field(default="", repr=False)
    admin_emails: str = ""
    session_idle_minutes: float = 30.0
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the app believes (comma-separated
    # IPs or CIDRs, e.g. "127.0.0.1" behind a local nginx); empty = none, so a client cannot pick
    # the address that sign-in throttling counts it under.
    trusted_proxies: str = ""
    # Local Web API rate limit per API key (the course's usage plan: rate 50/s, burst 200).
    api_rate_per_second: float = 50.0
    api_burst: int = 200
    # How often `python -m core serve` purges expired captures (core.usecases.retention).
    purge_interval_minutes: float = 15.0
    # Live mode (core.live): a known person's records (still, auth, analysis, door) at most once
    # per person per cooldown; identification calls (Rekognition calls in aws) per minute.
    live_cooldown_seconds: float = 30.0
    live_identifications_per_minute: float = 30.0
    # WebRTC ICE servers for Live, a JSON list of {urls, username, credential}; empty = none
    # (same machine or LAN only; a NAT in between needs a TURN server here).
    webrtc_ice_servers: str = field(default="", repr=False)

    @property
    def env_names(self) -> dict[str, str]:
        return {f.name: env_name(f.name) for f in fields(self)}

    def public_dict(self) -> dict:
        """Settings without secrets, for logs and the UI."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("api_key", "admin_password_hash", "admin_password", "webrtc_ice_servers"):
                value = "***" if value else ""
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def env_name(name: str) -> str:
    return "FACEGATE_" + name.upper()


class InvalidSetting(ConfigError):
    """One setting's value is refused; ``setting`` names it (the settings page says why in
    the user's words instead of showing the variable and its pattern)."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


class StackOwnedSetting(InvalidSetting):
    """A setting the deployed stack owns (aws world) was to be changed outside ``deploy up``."""

    def __init__(self, setting: str):
        super().__init__(
            setting,
            f"{setting} belongs to the deployed stack in the aws world: change it with "
            f"`{env_name(setting)}=... python -m core deploy up` (the settings page shows it read-only)",
        )


def _coerce(name: str, raw, kind):
    if isinstance(raw, str):
        raw = raw.strip()
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return str(raw)
    except (TypeError, ValueError):
        raise InvalidSetting(name, f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from None


def _validate(s: Settings) -> None:
    if s.backend not in ("local", "aws"):
        raise ConfigError(f"FACEGATE_BACKEND must be 'local' or 'aws', not {s.backend!r}")
    if s.publisher not in ("auto", "direct", "mqtt"):
        raise ConfigError(f"FACEGATE_PUBLISHER must be auto, direct or mqtt, not {s.publisher!r}")
    if s.mqtt_cert_file and not s.mqtt_key_file:
        raise ConfigError("FACEGATE_MQTT_KEY_FILE is needed with FACEGATE_MQTT_CERT_FILE")
    if not 0 < s.analysis_buffer_seconds <= 900:
        raise ConfigError("FACEGATE_ANALYSIS_BUFFER_SECONDS must be more than 0 and at most 900 (Firehose's limit)")
    if not COLLECTION_ID_PATTERN.match(s.collection):
        raise InvalidSetting(
            "collection", f"FACEGATE_COLLECTION must match [a-zA-Z0-9_.-]{{1,255}}, not {s.collection!r}"
        )
    if not DEVICE_ID_PATTERN.match(s.device_id):
        raise InvalidSetting("device_id", f"FACEGATE_DEVICE_ID must match [a-zA-Z0-9_:-]{{1,128}}, not {s.device_id!r}")
    if not TOPIC_PREFIX_PATTERN.match(s.topic_prefix):
        raise InvalidSetting("topic_prefix", f"FACEGATE_TOPIC_PREFIX must be like 'handson', not {s.topic_prefix!r}")
    if not 0 <= s.match_threshold <= 100:
        raise InvalidSetting(
            "match_threshold", f"FACEGATE_MATCH_THRESHOLD must be between 0 and 100, not {s.match_threshold}"
        )
    if s.language not in ("auto", "ja", "en"):
        raise InvalidSetting("language", f"FACEGATE_LANGUAGE must be auto, ja or en, not {s.language!r}")
    for name in ("photos_bucket", "faces_bucket", "logs_bucket"):
        if not BUCKET_PATTERN.match(getattr(s, name)):
            raise ConfigError(f"{env_name(name)} is not a valid bucket name: {getattr(s, name)!r}")
    ports = ("api_port", "mqtt_port", "app_port", "aws_port")
    for name in ports:
        if not 0 <= getattr(s, name) <= 65535:
            raise ConfigError(f"{env_name(name)} must be a port number (0-65535)")
    for i, name in enumerate(ports):  # `serve` runs them all: the second would fail to listen
        for other in ports[i + 1 :]:
            if getattr(s, name) == getattr(s, other) != 0:
                raise ConfigError(
                    f"{env_name(name)} and {env_name(other)} are both {getattr(s, name)}: "
                    "each server needs its own port"
                )
    for proxy in filter(None, (p.strip() for p in s.trusted_proxies.split(","))):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"FACEGATE_TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
    if not 1 <= s.session_idle_minutes <= 24 * 60:
        raise ConfigError("FACEGATE_SESSION_IDLE_MINUTES must be between 1 and 1440")
    if s.api_rate_per_second <= 0 or s.api_burst < 1:
        raise ConfigError("FACEGATE_API_RATE_PER_SECOND must be above 0 and FACEGATE_API_BURST at least 1")
    if s.purge_interval_minutes <= 0:
        raise ConfigError("FACEGATE_PURGE_INTERVAL_MINUTES must be above 0")
    for name in ("retention_match_hours", "retention_unknown_hours"):
        if getattr(s, name) < 0:
            raise InvalidSetting(name, f"{env_name(name)} must be 0 or more hours")
    if not 1 <= s.retention_log_days <= 36500:
        raise InvalidSetting("retention_log_days", "FACEGATE_RETENTION_LOG_DAYS must be between 1 and 36500 days")
    for name in ("device_messages_per_second", "device_bytes_per_second", "disk_reserve_mb"):
        if getattr(s, name) < 0:
            raise InvalidSetting(name, f"{env_name(name)} must be 0 (off) or more")
    if 0 < s.device_bytes_per_second < 128 * 1024:
        raise InvalidSetting(
            "device_bytes_per_second",
            "FACEGATE_DEVICE_BYTES_PER_SECOND must be 0 (off) or at least 131072 (one 128 KB message)",
        )
    if s.timezone:
        zone_info(s.timezone)  # raises ConfigError for an unknown zone
    if not 0 <= s.live_cooldown_seconds <= 86400:
        raise InvalidSetting("live_cooldown_seconds", "FACEGATE_LIVE_COOLDOWN_SECONDS must be between 0 and 86400")
    if not 0 < s.live_identifications_per_minute <= 6000:
        raise InvalidSetting(
            "live_identifications_per_minute",
            "FACEGATE_LIVE_IDENTIFICATIONS_PER_MINUTE must be above 0 and at most 6000",
        )
    ice_servers(s.webrtc_ice_servers)


def ice_servers(raw: str) -> list[dict]:
    """``FACEGATE_WEBRTC_ICE_SERVERS`` as a list of RTCIceServer dicts (``urls`` and, for
    TURN, ``username`` and ``credential``). Raises ConfigError naming what is wrong."""
    if not raw or not raw.strip():
        return []
    try:
        servers = json.loads(raw)
    except ValueError as exc:
        raise InvalidSetting("webrtc_ice_servers", f"FACEGATE_WEBRTC_ICE_SERVERS is not JSON: {exc}") from None
    if isinstance(servers, dict):
        servers = [servers]
    if not isinstance(servers, list):
        raise InvalidSetting(
            "webrtc_ice_servers", "FACEGATE_WEBRTC_ICE_SERVERS must be a JSON list of {urls, username, credential}"
        )
    out = []
    for s in servers:
        urls = s.get("urls") if isinstance(s, dict) else None
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not all(isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls):
            raise InvalidSetting(
                "webrtc_ice_servers",
                "FACEGATE_WEBRTC_ICE_SERVERS: each server needs urls starting with stun:, turn: or turns:",
            )
        server = {"urls": urls}
        for key in ("username", "credential"):
            if s.get(key) is not None:
                server[key] = str(s[key])
        if any(u.startswith("turn") for u in urls) and not ("username" in server and "credential" in server):
            raise InvalidSetting(
                "webrtc_ice_servers", "FACEGATE_WEBRTC_ICE_SERVERS: a TURN server needs username and credential"
            )
        out.append(server)
    return out


def _machine_zone_name() -> str:
    """This machine's IANA zone name from ``TZ`` or the ``/etc/localtime`` link, else ''."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return ""
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""


def zone_info(name: str):
    """The ``ZoneInfo`` for an IANA zone name (``Asia/Tokyo``); empty = this machine's zone.
    Raises ``ConfigError`` for a name the zone database does not know."""
    from datetime import datetime  # noqa: PLC0415
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    if not name:
        name = _machine_zone_name()
        if not name:  # no zone name to be found: this machine's current offset
            return datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"FACEGATE_TIMEZONE must be an IANA zone like Asia/Tokyo, not {name!r}") from None


def records_zone(settings: Settings):
    """The zone of the course's zone-less stamps (``YYYY-mm-dd HH:MM:SS`` in auth and analysis
    logs), written and read in the same zone: the clock of whatever serves the course's Web API,
    whose ``timestamp`` the device copies into its logs. Locally that is this machine, in
    ``FACEGATE_TIMEZONE``; in aws it is Lambda's clock, UTC, and Athena/QuickSight read such
    times as UTC too (photo keys and pages still use the local and the viewer's zone)."""
    from datetime import UTC  # noqa: PLC0415

    return UTC if settings.backend == "aws" else zone_info(settings.timezone)


def _read_secrets(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    # Either a [facegate] table or top-level FACEGATE_* keys.
    out = dict(data.get("facegate", {}))
    for key, value in data.items():
        if key.upper().startswith("FACEGATE_"):
            out[key[len("FACEGATE_") :].lower()] = value
    return out


def user_settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / "settings.json"


def _read_user_settings(data_dir: Path) -> dict:
    path = user_settings_path(data_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a broken file must not stop the app; the settings page rewrites it
    return {k: v for k, v in data.items() if k in USER_SETTINGS}


def load_settings(env: dict | None = None, secrets_file: Path | None = None) -> Settings:
    """Build validated ``Settings``. Raises ``ConfigError`` naming the bad variable."""
    env = dict(os.environ if env is None else env)
    types = {f.name: (Path if f.name == "data_dir" else type(f.default)) for f in fields(Settings)}
    values: dict = {}
    secrets_path = secrets_file or Path(env.get("FACEGATE_SECRETS_FILE", ".streamlit/secrets.toml"))
    for key, raw in _read_secrets(secrets_path).items():
        if key in types:
            values[key] = _coerce(key, raw, types[key])
    data_dir_raw = env.get(env_name("data_dir"), values.get("data_dir", Settings.data_dir))
    data_dir = _coerce("data_dir", data_dir_raw, Path)
    owned = stack_owned(str(env.get(env_name("backend"), values.get("backend", Settings.backend))).strip())
    for key, raw in _read_user_settings(data_dir).items():
        if key not in owned:
            values[key] = _coerce(key, raw, types[key])
    for name, kind in types.items():
        if env_name(name) in env:
            values[name] = _coerce(name, env[env_name(name)], kind)
    values["data_dir"] = data_dir
    settings = Settings(**values)
    _validate(settings)
    return settings


def save_user_settings(settings: Settings, changes: dict) -> Settings:
    """Validate ``changes`` (only USER_SETTINGS keys), persist them atomically, return new settings."""
    from core.access.sessions import require_admin  # noqa: PLC0415 (config is imported before everything)

    require_admin()
    unknown = set(changes) - set(USER_SETTINGS)
    if unknown:
        raise ConfigError(f"these settings cannot be changed here: {sorted(unknown)}")
    for key in stack_owned(settings.backend):
        if key in changes and str(changes[key]).strip() != str(getattr(settings, key)):
            raise StackOwnedSetting(key)
    types = {f.name: type(f.default) for f in fields(Settings)}
    coerced = {k: _coerce(k, v, types[k]) for k, v in changes.items()}
    updated = dataclasses.replace(settings, **coerced)
    _validate(updated)

    path = user_settings_path(settings.data_dir)
    current = _read_user_settings(settings.data_dir)
    current.update(coerced)
    atomic_write_bytes(path, json.dumps(current, ensure_ascii=False, indent=2).encode())
    return updated


_LIVE: dict[Path, tuple[int, dict]] = {}


def current_collection(settings: Settings) -> str:
    """The collection the app, the Web API and ``python -m core faces`` search right now.

    Long-running servers (the Web API, the AWS-compatible endpoint) were given ``settings``
    when they started; a collection chosen since on the Settings page or with ``python -m core
    faces use-collection`` is in ``settings.json``, re-read here when it changes. As in
    ``load_settings``, ``FACEGATE_COLLECTION`` in the environment wins over both, and in the
    aws world the stack's collection is the only one."""
    if env_name("collection") in os.environ or "collection" in stack_owned(settings.backend):
        return settings.collection
    path = user_settings_path(settings.data_dir)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return settings.collection
    cached = _LIVE.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, _read_user_settings(settings.data_dir))
        _LIVE[path] = cached
    chosen = cached[1].get("collection")
    return chosen if isinstance(chosen, str) and COLLECTION_ID_PATTERN.match(chosen) else settings.collection
