"""The device's identity in IoT Core: its X.509 certificate, made from a key generated on this
machine, attached to the stack's IoT policy and thing; repaired by ``deploy up`` and removed
by ``deploy down`` from whatever state an interrupted run left.

Every certificate of the stack is found three ways, so none is missed: through the policy
(``ListTargetsForPolicy``), through the thing (``ListThingPrincipals``) and through this
machine's records (the current certificate, retirements that did not finish, and a key whose
``CreateCertificateFromCsr`` answer was lost, matched by public key). IoT detaches a thing
from a certificate asynchronously (``DetachThingPrincipal`` returns before it is done), and
refuses to delete a certificate, a thing or a policy while they are attached, so a
certificate is deleted only after the detachment is seen, within a bounded wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from core.aws.clients import aws_errors
from core.config import Settings
from core.deploy import state
from core.errors import DeployFailed, ResourceNotFound

log = logging.getLogger(__name__)

DETACH_TIMEOUT_SECONDS = 120.0  # IoT detaches in seconds; give up with advice after this
# A pending key's certificate, if IoT made one, is at most this much older than the key file.
_PENDING_SLACK_SECONDS = 600


def key_and_csr(common_name: str) -> tuple[bytes, str]:
    """A new EC P-256 private key (PEM, unencrypted; stored 0600) and its CSR (PEM)."""

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def _public_key_der(pem: bytes | str) -> bytes:

    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        public: PublicKeyTypes = x509.load_pem_x509_certificate(data).public_key()
    else:
        public = serialization.load_pem_private_key(data, password=None).public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


_UNKNOWN = object()


def _cert_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class DeviceIdentity:
    """``iot`` is a boto3 IoT client; ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        iot,
        settings: Settings,
        stack_name: str,
        *,
        detach_timeout: float = DETACH_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.iot = iot
        self.settings = settings
        self.stack_name = stack_name
        self.detach_timeout = detach_timeout
        self.sleep = sleep
        self.clock = clock
        self._pending: object = _UNKNOWN  # the certificate of a pending key, looked up once

    # ------------------------------------------------------------------ listing
    def _pages(self, method: str, key: str, **kwargs) -> list:
        out, marker = [], None
        while True:
            page = getattr(self.iot, method)(**kwargs, **({"nextToken": marker} if marker else {}))
            out += page.get(key, [])
            marker = page.get("nextToken")
            if not marker:
                return out

    def things_of(self, cert_arn: str) -> list[str]:
        """Things attached to the certificate (empty when it does not exist)."""
        try:
            with aws_errors():
                return self._pages("list_principal_things", "things", principal=cert_arn)
        except ResourceNotFound:
            return []

    def policies_of(self, cert_arn: str) -> list[str]:
        try:
            with aws_errors():
                return [p["policyName"] for p in self._pages("list_attached_policies", "policies", target=cert_arn)]
        except ResourceNotFound:
            return []

    def principals_of_thing(self, thing: str) -> list[str]:
        try:
            with aws_errors():
                return self._pages("list_thing_principals", "principals", thingName=thing)
        except ResourceNotFound:
            return []

    def targets_of_policy(self, policy: str) -> list[str]:
        try:
            with aws_errors():
                return self._pages("list_targets_for_policy", "targets", policyName=policy)
        except ResourceNotFound:
            return []

    def _exists(self, cert_arn: str) -> dict | None:
        try:
            with aws_errors():
                return self.iot.describe_certificate(certificateId=_cert_id(cert_arn))["certificateDescription"]
        except ResourceNotFound:
            return None

    def find(self, things: Iterable[str], policies: Iterable[str]) -> list[str]:
        """Every certificate ARN of this stack: through ``policies``, ``things`` and this
        machine's records (current, stale, and a lost CreateCertificateFromCsr answer)."""
        found: list[str] = []
        for policy in policies:
            found += [t for t in self.targets_of_policy(policy) if ":cert/" in t]
        for thing in things:
            found += [p for p in self.principals_of_thing(thing) if ":cert/" in p]
        try:
            found.append(state.device_credentials(self.settings, self.stack_name).certificate_arn)
        except ResourceNotFound:
            pass
        found += state.stale_certificates(self.settings, self.stack_name)
        lost = self._pending_certificate()
        if lost:
            found.append(lost)
        return [arn for arn in dict.fromkeys(found) if self._exists(arn) is not None]

    def _pending_certificate(self) -> str | None:
        if self._pending is _UNKNOWN:
            self._pending = self._certificate_of_pending_key()
        return self._pending if isinstance(self._pending, str) else None

    def _certificate_of_pending_key(self) -> str | None:
        """The certificate IoT made from our pending key, if it made one (matched by public key
        among the certificates created since the key was written)."""
        pending = state.pending_key(self.settings, self.stack_name)
        if pending is None:
            return None
        key_pem, written = pending
        wanted = _public_key_der(key_pem)
        with aws_errors():
            listed = self._pages("list_certificates", "certificates", ascendingOrder=False)
        for cert in listed:
            created = cert.get("creationDate")
            if created is not None and created.timestamp() < written - _PENDING_SLACK_SECONDS:
                continue
            with aws_errors():
                pem = self.iot.describe_certificate(certificateId=cert["certificateId"])["certificateDescription"][
                    "certificatePem"
                ]
            if _public_key_der(pem) == wanted:
                return cert["certificateArn"]
        state.clear_pending_key(self.settings, self.stack_name)  # IoT never made one
        return None

    # ------------------------------------------------------------------ retiring
    def _wait_detached(self, cert_arn: str, things: list[str]) -> None:
        """Wait until IoT no longer lists ``things`` on the certificate. Raises DeployFailed
        after ``detach_timeout`` seconds."""
        deadline = self.clock() + self.detach_timeout
        delay = 0.5
        while True:
            left = set(things) & set(self.things_of(cert_arn))
            if not left:
                return
            if self.clock() >= deadline:
                raise DeployFailed(
                    f"IoT still lists certificate {_cert_id(cert_arn)} on thing(s) {sorted(left)} "
                    f"{self.detach_timeout:.0f} s after detaching it (AWS detaches asynchronously). "
                    "Run `python -m core deploy down` again in a minute."
                )
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def wait_thing_free(self, thing: str) -> None:
        """Wait until no principal is listed on ``thing`` (IoT refuses to delete it before).
        Raises DeployFailed naming what is still attached."""
        deadline = self.clock() + self.detach_timeout
        delay = 0.5
        while True:
            left = self.principals_of_thing(thing)
            if not left:
                return
            if self.clock() >= deadline:
                raise DeployFailed(
                    f"thing {thing} still has principal(s) {left} attached; detach them "
                    "(IoT console: Things > Certificates) and run `deploy down` again"
                )
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def retire(self, cert_arn: str, *, things: Iterable[str] = (), policies: Iterable[str] = ()) -> bool:
        """Detach ``cert_arn`` from the given things and policies (from every one when it is
        this machine's certificate), wait for the detachment, then deactivate and delete it
        unless something outside the stack still uses it. True when it was deleted.
        Raises domain errors; DeployFailed when the detachment does not finish in time."""
        if self._exists(cert_arn) is None:
            return True
        ours = self._made_here(cert_arn)
        attached_things = self.things_of(cert_arn)
        detach_things = attached_things if ours else [t for t in attached_things if t in set(things)]
        attached_policies = self.policies_of(cert_arn)
        detach_policies = attached_policies if ours else [p for p in attached_policies if p in set(policies)]
        with aws_errors():
            for policy in detach_policies:
                self.iot.detach_policy(policyName=policy, target=cert_arn)
        for thing in detach_things:
            try:
                with aws_errors():
                    self.iot.detach_thing_principal(thingName=thing, principal=cert_arn)
            except ResourceNotFound:
                pass  # detached meanwhile
        self._wait_detached(cert_arn, detach_things)
        if set(attached_things) - set(detach_things) or set(attached_policies) - set(detach_policies):
            log.warning("certificate %s is also used outside this stack: detached, kept", _cert_id(cert_arn))
            return False
        cert_id = _cert_id(cert_arn)
        try:
            with aws_errors():
                self.iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
                self.iot.delete_certificate(certificateId=cert_id, forceDelete=False)
        except ResourceNotFound:
            pass
        self._forget(cert_arn)
        return True

    def _made_here(self, cert_arn: str) -> bool:
        try:
            if state.device_credentials(self.settings, self.stack_name).certificate_arn == cert_arn:
                return True
        except ResourceNotFound:
            pass
        if cert_arn in state.stale_certificates(self.settings, self.stack_name):
            return True
        return self._pending_certificate() == cert_arn

    def _forget(self, cert_arn: str) -> None:
        """Drop every local record of a deleted certificate."""
        try:
            if state.device_credentials(self.settings, self.stack_name).certificate_arn == cert_arn:
                state.forget_device_credentials(self.settings, self.stack_name)
        except ResourceNotFound:
            pass
        stale = state.stale_certificates(self.settings, self.stack_name)
        if cert_arn in stale:
            state.set_stale_certificates(self.settings, self.stack_name, [a for a in stale if a != cert_arn])
        if self._pending is not _UNKNOWN and self._pending == cert_arn:
            state.clear_pending_key(self.settings, self.stack_name)
            self._pending = None

    def retire_all(self, things: Iterable[str], policies: Iterable[str]) -> list[str]:
        """Retire every certificate of the stack (``find``); return the deleted ids."""
        things, policies = list(things), list(policies)
        removed = []
        for arn in self.find(things, policies):
            if self.retire(arn, things=things, policies=policies):
                removed.append(_cert_id(arn))
        for policy in policies:  # anything else on the policy (a thing group, an identity) blocks deleting it
            for target in self.targets_of_policy(policy):
                with aws_errors():
                    self.iot.detach_policy(policyName=policy, target=target)
        return removed

    # ------------------------------------------------------------------ making one
    def ensure(self, thing: str, policy: str) -> state.DeviceCredentials:
        """This machine's certificate for ``thing``, ACTIVE and attached to ``policy`` and
        ``thing``: the stored one repaired (missing attachments added), or a new one when
        there is none, it is gone or inactive, or it belongs to another thing (the device id
        changed). A certificate replaced here is retired. Raises domain errors."""
        self._retry_stale()
        creds = None
        try:
            creds = state.device_credentials(self.settings, self.stack_name)
        except ResourceNotFound:
            pass
        if creds is not None:
            desc = self._exists(creds.certificate_arn)
            if desc is None:
                state.forget_device_credentials(self.settings, self.stack_name)
                creds = None
            elif desc["status"] != "ACTIVE" or creds.client_id != thing:
                self._retire_or_remember(creds.certificate_arn)
                creds = None
        if creds is None:
            lost = self._pending_certificate()
            if lost:
                self._retire_or_remember(lost)
            state.clear_pending_key(self.settings, self.stack_name)
            self._pending = None
            creds = self._create(thing)
        with aws_errors():
            if policy not in self.policies_of(creds.certificate_arn):
                self.iot.attach_policy(policyName=policy, target=creds.certificate_arn)
            if thing not in self.things_of(creds.certificate_arn):
                self.iot.attach_thing_principal(thingName=thing, principal=creds.certificate_arn)
        return creds

    def _retire_or_remember(self, cert_arn: str) -> None:
        """Retire a certificate FaceGate no longer uses; if that cannot finish now, note it so
        the next ``up`` or ``down`` retries (it is then no longer the current one)."""
        stale = state.stale_certificates(self.settings, self.stack_name)
        state.set_stale_certificates(self.settings, self.stack_name, [*stale, cert_arn])
        try:
            state.forget_device_credentials(self.settings, self.stack_name)
            self.retire(cert_arn)
        except Exception as exc:  # noqa: BLE001 - retried by the next up/down; the new cert matters now
            log.warning("could not retire certificate %s yet: %s", _cert_id(cert_arn), exc)

    def _retry_stale(self) -> None:
        for arn in state.stale_certificates(self.settings, self.stack_name):
            try:
                self.retire(arn)
            except Exception as exc:  # noqa: BLE001 - tried again next time
                log.warning("could not retire certificate %s yet: %s", _cert_id(arn), exc)

    def _create(self, thing: str) -> state.DeviceCredentials:
        key_pem, csr_pem = key_and_csr(thing)
        # Written before asking IoT, so a lost answer still lets up/down find the certificate.
        state.save_pending_key(self.settings, self.stack_name, key_pem)
        with aws_errors():
            cert = self.iot.create_certificate_from_csr(certificateSigningRequest=csr_pem, setAsActive=True)
        creds = state.save_device_credentials(
            self.settings,
            self.stack_name,
            cert_pem=cert["certificatePem"],
            key_pem=key_pem,
            client_id=thing,
            certificate_id=cert["certificateId"],
            certificate_arn=cert["certificateArn"],
        )
        state.clear_pending_key(self.settings, self.stack_name)
        return creds
