"""One way to make a key and a certificate: P-256 keys, SHA-256 signatures, a validity that
starts five minutes ago (clock skew), and only the extensions the caller asks for.

``issue`` signs with ``issuer`` (a CA's certificate and key) or, without one, self-signs."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issuer:
    certificate: x509.Certificate
    key: PrivateKey


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (callers store it owner-only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """IP addresses as IPAddress entries, everything else as DNS names."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue(
    common_name: str,
    key: PrivateKey,
    *,
    days: int,
    issuer: Issuer | None = None,
    ca: bool = False,
    server_names: Sequence[str] = (),
    usage: str | None = None,
    key_identifiers: bool = False,
) -> x509.Certificate:
    """A certificate for ``key`` named ``common_name``, valid ``days``.

    ``ca``: a CA that signs end certificates only (path length 0, cert and CRL signing).
    ``server_names``: subject alternative names. ``usage``: "server" or "client" (extended
    key usage). ``key_identifiers``: subject key id on a CA, authority key id on what it
    signs. Signed by ``issuer``, or self-signed without one."""
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if key_identifiers:
        if ca:
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
            )
    if server_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(subject_alt_names(server_names)), critical=False)
    if usage is not None:
        oid = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}[usage]
        builder = builder.add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
    return builder.sign(signer, hashes.SHA256())
