"""The local world's certificate authority: a CA created on first run, and device
certificates signed by it (like IoT Core's ``create-keys-and-certificate``).

Layout under ``<data dir>/telemetry/pki/``: ``ca.pem`` (public), ``ca.key`` (owner-only),
``broker.pem``/``broker.key`` (the local broker's server certificate, SAN 127.0.0.1 and
localhost), ``devices/<device id>/`` for certificates the app itself uses, and
``registry.db``, the device registry (``core.telemetry.registry``) in which every device
certificate issued here is recorded as it is issued. A device's certificate carries its id
as the subject common name (the thing name); the broker allows a client to connect only
with a client id equal to that name, and only while the registry says ``ACTIVE``.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.config import DEVICE_ID_PATTERN
from core.errors import InvalidParameter
from core.storage.files import atomic_write_bytes, ensure_dir
from core.telemetry.registry import MONITOR_NAME, RESERVED_PREFIX, DeviceRegistry
from core.tls import certificates

CA_NAME = "FaceGate local CA"
BROKER_NAME = "facegate-broker"
# Device certificates live as long as IoT Core's default (no expiry management locally).
DEVICE_DAYS = 3650


@dataclass(frozen=True)
class DeviceCredentials:
    """Paths of one device's key material; ``client_id`` is what it must connect with."""

    device_id: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def client_id(self) -> str:
        return self.device_id


class LocalCA:
    """Creates the CA lazily and issues certificates. Safe to call from several processes
    at once (an exclusive lock file guards first-run creation)."""

    def __init__(self, pki_dir: Path):
        self.dir = Path(pki_dir)
        self.ca_file = self.dir / "ca.pem"
        self.ca_key_file = self.dir / "ca.key"
        self.broker_cert_file = self.dir / "broker.pem"
        self.broker_key_file = self.dir / "broker.key"
        self.registry_file = self.dir / "registry.db"

    def registry(self) -> DeviceRegistry:
        """The device registry of the certificates this CA issued."""
        ensure_dir(self.dir)
        return DeviceRegistry(self.registry_file)

    # -- CA ---------------------------------------------------------------------------
    def ensure(self) -> LocalCA:
        """Create the CA and the broker certificate if missing; returns self."""
        ensure_dir(self.dir)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.ca_file.is_file() or not self.ca_key_file.is_file():
                self._create_ca()
            if not self.broker_cert_file.is_file() or not self.broker_key_file.is_file():
                key, cert = self._issue(BROKER_NAME, server=True)
                atomic_write_bytes(self.broker_key_file, certificates.key_pem(key))
                atomic_write_bytes(self.broker_cert_file, certificates.cert_pem(cert))
        return self

    def _create_ca(self) -> None:
        key = certificates.new_key()
        cert = certificates.issue(CA_NAME, key, days=DEVICE_DAYS * 2, ca=True, key_identifiers=True)
        atomic_write_bytes(self.ca_key_file, certificates.key_pem(key))
        atomic_write_bytes(self.ca_file, certificates.cert_pem(cert))

    def _load_ca(self) -> certificates.Issuer:
        key = serialization.load_pem_private_key(self.ca_key_file.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # the CA key this class wrote
        return certificates.Issuer(x509.load_pem_x509_certificate(self.ca_file.read_bytes()), key)

    def _issue(self, common_name: str, *, server: bool) -> tuple[certificates.PrivateKey, x509.Certificate]:
        key = certificates.new_key()
        cert = certificates.issue(
            common_name,
            key,
            days=DEVICE_DAYS,
            issuer=self._load_ca(),
            server_names=["localhost", "127.0.0.1"] if server else (),
            usage="server" if server else "client",
            key_identifiers=True,
        )
        return key, cert

    # -- devices ----------------------------------------------------------------------
    def create_device(self, device_id: str, out_dir: Path) -> DeviceCredentials:
        """Issue a new key and certificate for ``device_id`` into ``out_dir`` (key file
        owner-only), copy the CA certificate there and register the certificate ``ACTIVE``.
        Returns the paths. Raises ``InvalidParameter`` for a device id IoT Core would refuse
        or one of the app's own names (``facegate-...``)."""
        if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.match(device_id):
            raise InvalidParameter(f"device id must match [a-zA-Z0-9_:-]{{1,128}}, not {device_id!r}")
        if device_id.startswith(RESERVED_PREFIX):
            raise InvalidParameter(f"device ids starting with {RESERVED_PREFIX!r} are the app's own")
        self.ensure()
        out = ensure_dir(Path(out_dir))
        return self._write_device(
            DeviceCredentials(
                device_id, out / "AmazonRootCA1.pem", out / f"{device_id}.cert.pem", out / f"{device_id}.private.key"
            )
        )

    def _write_device(self, creds: DeviceCredentials, role: str = "device") -> DeviceCredentials:
        ensure_dir(creds.cert_file.parent)
        key, cert = self._issue(creds.device_id, server=False)
        pem = certificates.cert_pem(cert)
        atomic_write_bytes(creds.key_file, certificates.key_pem(key))
        atomic_write_bytes(creds.cert_file, pem)
        atomic_write_bytes(creds.ca_file, self.ca_file.read_bytes())
        registry = self.registry()
        try:
            registry.register(pem, role)
        finally:
            registry.close()
        return creds

    def monitor_credentials(self) -> DeviceCredentials:
        """The app's live-view identity (``facegate-monitor``): may subscribe, never publish."""
        return self.device_credentials(MONITOR_NAME, role="monitor")

    def device_credentials(self, device_id: str, role: str = "device") -> DeviceCredentials:
        """The app's own credentials for ``device_id`` under the PKI folder, issued (and
        registered) on first use. A certificate issued before the registry existed is
        registered now; one the operator revoked stays revoked."""
        folder = self.dir / "devices" / device_id
        creds = DeviceCredentials(
            device_id,
            folder / "AmazonRootCA1.pem",
            folder / f"{device_id}.cert.pem",
            folder / f"{device_id}.private.key",
        )
        if not (creds.cert_file.is_file() and creds.key_file.is_file() and creds.ca_file.is_file()):
            self.ensure()
            with open(self.dir / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (creds.cert_file.is_file() and creds.key_file.is_file() and creds.ca_file.is_file()):
                    return self._write_device(creds, role)
        registry = self.registry()
        try:
            registry.register(creds.cert_file.read_bytes(), role, only_if_new=True)
        finally:
            registry.close()
        return creds


def common_name(cert_der: bytes) -> str | None:
    """The subject CN of a DER certificate (what the broker identifies a device by)."""
    cert = x509.load_der_x509_certificate(cert_der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def connection_info(creds: DeviceCredentials, endpoint: str, port: int) -> str:
    """One line of JSON telling a device how to connect (the CLI's ``create-device`` output)."""
    return json.dumps(
        {
            "endpoint": endpoint,
            "port": port,
            "ca_file": str(creds.ca_file.resolve()),
            "cert_file": str(creds.cert_file.resolve()),
            "key_file": str(creds.key_file.resolve()),
            "client_id": creds.client_id,
        }
    )
