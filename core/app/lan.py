"""Reaching the app from a phone: the LAN URL, a QR code of it, and a self-signed certificate.

Phones give the camera only to a secure context (https:// or localhost), so
``make run-https`` serves the app over TLS with a certificate created here (once, kept in
``<data dir>/tls/``) whose names cover localhost, 127.0.0.1 and this machine's LAN address.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
from dataclasses import dataclass
from pathlib import Path

import qrcode
from cryptography import x509

from core.storage.files import atomic_write_bytes, ensure_dir
from core.tls import certificates

CERT_DAYS = 825  # the longest validity Apple devices accept for a TLS server certificate


def lan_ip() -> str:
    """This machine's address on the local network (the one its default route uses), or
    127.0.0.1 when there is none. Sends no packet: a UDP connect only picks a route."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.254.254.254", 9))
        ip = s.getsockname()[0]
    except OSError:
        ip = "127.0.0.1"
    finally:
        s.close()
    return ip


def app_url(port: int, https: bool, host: str | None = None) -> str:
    return f"{'https' if https else 'http'}://{host or lan_ip()}:{port}/"


def qr_png(text: str, box_size: int = 6) -> bytes:
    """A PNG QR code of ``text``."""

    qr = qrcode.QRCode(border=2, box_size=box_size)
    qr.add_data(text)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buf)
    return buf.getvalue()


def certificate_paths(data_dir: Path) -> tuple[Path, Path]:
    tls = Path(data_dir) / "tls"
    return tls / "app-cert.pem", tls / "app-key.pem"


def ensure_certificate(data_dir: Path, extra_hosts: list[str] | None = None) -> tuple[Path, Path]:
    """Return (cert, key) paths of the app's self-signed certificate, creating it when missing,
    expiring within a week, or not covering the current LAN address. The key is owner-only."""

    cert_path, key_path = certificate_paths(data_dir)
    hosts = ["localhost", "127.0.0.1", lan_ip(), socket.gethostname(), *(extra_hosts or [])]
    hosts = list(dict.fromkeys(h for h in hosts if h))
    now = dt.datetime.now(dt.UTC)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
            names |= set(san.get_values_for_type(x509.DNSName))
            if set(hosts) <= names and cert.not_valid_after_utc - now > dt.timedelta(days=7):
                return cert_path, key_path
        except (ValueError, x509.ExtensionNotFound):
            pass  # unreadable or foreign: make a new one
    key = certificates.new_key()
    cert = certificates.issue("FaceGate local app", key, days=CERT_DAYS, server_names=hosts, usage="server")
    ensure_dir(cert_path.parent)
    atomic_write_bytes(key_path, certificates.key_pem(key))
    atomic_write_bytes(cert_path, certificates.cert_pem(cert))
    return cert_path, key_path


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ANY = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class PhoneAccess:
    """Whether a phone on the LAN can use this app: ``url`` when it can (https, reachable),
    else ``None`` and ``why``: ``loopback`` (the server listens on this computer only),
    ``http`` (phones give the camera only to https) or ``no_network`` (no LAN address)."""

    url: str | None
    why: str = ""


def phone_access(address: str | None, port: int, https: bool) -> PhoneAccess:
    """``address`` is the server's bind address (Streamlit's ``server.address``; empty or
    None = every interface). A QR code is only worth showing when the answer has a URL."""
    address = (address or "").strip()
    if address in _LOOPBACK or address.startswith("127."):
        return PhoneAccess(None, "loopback")
    if not https:
        return PhoneAccess(None, "http")
    host = lan_ip() if address in _ANY else address
    if host.startswith("127."):
        return PhoneAccess(None, "no_network")
    return PhoneAccess(app_url(port, True, host))
