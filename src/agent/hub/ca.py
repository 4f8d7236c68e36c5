"""The workstation agents' certificate authority (issue 23): ECDSA P-256, as the Go daemon's.

Files in ``ca_dir`` (0700): ``ca.key`` / ``server.key`` (0600), ``ca.crt`` / ``server.crt``
(0644), all created on first use and written atomically. Agent certificates carry the host
name as CN (``agent-<host>``) and as the only DNS name, client-auth only, and are short-lived
(:data:`AGENT_CERT_DAYS`): renewal is a ``Register`` over mTLS with the current certificate.

* :meth:`AgentCA.sign_csr` — CSR enrollment: the agent keeps its key, we return a certificate;
* :meth:`AgentCA.issue_with_key` — compatibility enrollment for today's Go agents, which expect
  their private key in the answer (only reachable with ``grpc_hub_compat_enrollment``);
* :meth:`AgentCA.verify_client` — the per-call check of a presented client certificate: signed
  by this CA, inside its validity, client-auth, with a host name (revocation is the registry's).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.state.atomic import atomic_write, ensure_dir

AGENT_CERT_DAYS: Final = 30
SERVER_CERT_DAYS: Final = 365
CA_YEARS: Final = 10
ORG: Final = "msp-agent"
CN_PREFIX: Final = "agent-"
MAX_CSR_BYTES: Final = 8192


class CAError(Exception):
    """A request the CA refuses (bad CSR, wrong host, wrong key type) or a certificate it does
    not accept; the message is safe to return to the caller."""


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What a verified client certificate says."""

    hostname: str
    serial: int
    not_before: float
    not_after: float


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def normalize_host(hostname: str) -> str:
    """Host names compare case-insensitively, without a trailing dot."""
    return hostname.strip().rstrip(".").lower()


class AgentCA:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._cert: x509.Certificate | None = None

    # --- files ---------------------------------------------------------------------------------

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def server_cert_path(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key_path(self) -> Path:
        return self.dir / "server.key"

    def ensure(self) -> None:
        """Load the CA, or create it (directory 0700, key 0600) on first use."""
        ensure_dir(self.dir, 0o700)
        os.chmod(self.dir, 0o700)
        key_path, cert_path = self.dir / "ca.key", self.ca_cert_path
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise CAError(f"{key_path} is not an EC key")
            self._key, self._cert = key, x509.load_pem_x509_certificate(cert_path.read_bytes())
            return
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                          x509.NameAttribute(NameOID.COMMON_NAME, "msp-agent workstation CA")])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        atomic_write(key_path, _key_pem(key), 0o600)
        atomic_write(cert_path, _pem(cert), 0o644)
        self._key, self._cert = key, cert

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self._key is None or self._cert is None:
            self.ensure()
        assert self._key is not None and self._cert is not None
        return self._key, self._cert

    def ca_pem(self) -> bytes:
        return _pem(self._ca()[1])

    # --- issuing -------------------------------------------------------------------------------

    def _sign(self, public_key: ec.EllipticCurvePublicKey, hostname: str, *, days: int,
              not_before: dt.datetime | None = None) -> x509.Certificate:
        key, ca = self._ca()
        start = not_before or (_now() - dt.timedelta(minutes=5))
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                    x509.NameAttribute(NameOID.COMMON_NAME, CN_PREFIX + hostname)]))
                .issuer_name(ca.subject).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]),
                               critical=False)
                .sign(key, hashes.SHA256()))

    def sign_csr(self, csr_pem: bytes, hostname: str, *, days: int = AGENT_CERT_DAYS,
                 not_before: dt.datetime | None = None) -> tuple[bytes, int]:
        """Certificate (PEM) and serial for a CSR whose subject names ``hostname``."""
        if len(csr_pem) > MAX_CSR_BYTES:
            raise CAError("csr too large")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise CAError("csr is not a PEM certificate request") from None
        if not csr.is_signature_valid:
            raise CAError("csr signature invalid")
        pub = csr.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
            raise CAError("csr key must be ECDSA P-256")
        if csr_hostname(csr) != normalize_host(hostname):
            raise CAError("csr names another host")
        cert = self._sign(pub, normalize_host(hostname), days=days, not_before=not_before)
        return _pem(cert), cert.serial_number

    def issue_with_key(self, hostname: str, *, days: int = AGENT_CERT_DAYS) -> tuple[bytes, bytes, int]:
        """Compatibility enrollment: certificate PEM, key PEM and serial (the key is generated
        here and returned once; it is never written to disk)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._sign(key.public_key(), normalize_host(hostname), days=days)
        return _pem(cert), _key_pem(key), cert.serial_number

    def server_credentials(self, names: list[str]) -> tuple[Path, Path]:
        """The hub's TLS certificate for ``names`` (IP addresses or DNS names), reused while
        it covers them and has 30 days left; paths of the certificate and key."""
        key, ca = self._ca()
        if self.server_cert_path.exists() and self.server_key_path.exists():
            cur = x509.load_pem_x509_certificate(self.server_cert_path.read_bytes())
            try:
                san = cur.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                have = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
                    san.get_values_for_type(x509.DNSName))
            except x509.ExtensionNotFound:
                have = set()
            if (set(names) <= have and cur.issuer == ca.subject
                    and cur.not_valid_after_utc - _now() > dt.timedelta(days=30)):
                return self.server_cert_path, self.server_key_path
        skey = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = []
        for n in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                                         x509.NameAttribute(NameOID.COMMON_NAME, "msp-agent hub")]))
                .issuer_name(ca.subject).public_key(skey.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=SERVER_CERT_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .sign(key, hashes.SHA256()))
        atomic_write(self.server_key_path, _key_pem(skey), 0o600)
        atomic_write(self.server_cert_path, _pem(cert), 0o644)
        return self.server_cert_path, self.server_key_path

    # --- verifying ------------------------------------------------------------------------------

    def verify_client(self, der: bytes, now: dt.datetime | None = None) -> ClientIdentity:
        """The identity in a client certificate (DER) issued by this CA and valid at ``now``."""
        _, ca = self._ca()
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CAError("unreadable client certificate") from None
        if cert.issuer != ca.subject:
            raise CAError("client certificate not issued by this hub")
        pub = ca.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        try:
            sig_hash = cert.signature_hash_algorithm
            if sig_hash is None:
                raise CAError("client certificate has no signature hash")
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(sig_hash))
        except InvalidSignature:
            raise CAError("client certificate signature invalid") from None
        when = now or _now()
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise CAError("client certificate expired or not yet valid")
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise CAError("client certificate lacks client-auth or host name") from None
        names = san.get_values_for_type(x509.DNSName)
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku or len(names) != 1:
            raise CAError("client certificate lacks client-auth or host name")
        return ClientIdentity(normalize_host(names[0]), cert.serial_number,
                              cert.not_valid_before_utc.timestamp(),
                              cert.not_valid_after_utc.timestamp())


def csr_hostname(csr: x509.CertificateSigningRequest) -> str:
    """The host a CSR asks for: its single DNS SAN, else its CN (``agent-`` prefix allowed)."""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        if len(names) == 1:
            return normalize_host(names[0])
        if names:
            return ""  # several names: refused (one certificate, one host)
    except x509.ExtensionNotFound:
        pass
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        return ""
    cn = str(cns[0].value)
    return normalize_host(cn[len(CN_PREFIX):] if cn.startswith(CN_PREFIX) else cn)
