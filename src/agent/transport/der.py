"""Just enough DER to find a certificate's SubjectPublicKeyInfo (for SPKI pins).

Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... } (RFC 5280 §4.1).
Every length is bounds-checked; malformed input raises :class:`ValueError`.
"""

from __future__ import annotations

import hashlib


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER header")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise ValueError("DER element overruns its container")
    return tag, pos, end


def spki_der(cert_der: bytes) -> bytes:
    """The DER bytes of the certificate's SubjectPublicKeyInfo."""
    tag, start, _ = _header(cert_der, 0)
    if tag != 0x30:
        raise ValueError("certificate is not a SEQUENCE")
    tag, pos, tbs_end = _header(cert_der, start)
    if tag != 0x30:
        raise ValueError("tbsCertificate is not a SEQUENCE")
    tag, _, end = _header(cert_der, pos)
    if tag == 0xA0:  # explicit version
        pos = end
    # serialNumber, signature, issuer, validity, subject
    for _ in range(5):
        _, _, end = _header(cert_der, pos)
        pos = end
        if pos > tbs_end:
            raise ValueError("tbsCertificate truncated")
    tag, _, end = _header(cert_der, pos)
    if tag != 0x30 or end > tbs_end:
        raise ValueError("subjectPublicKeyInfo not found")
    return cert_der[pos:end]


def spki_sha256(cert_der: bytes) -> str:
    """Lower-hex SHA-256 of the DER SubjectPublicKeyInfo (the pin format of central-api.md §3.2)."""
    return hashlib.sha256(spki_der(cert_der)).hexdigest()
