"""WinRM HTTP transport: certificate pins, HTTP message encryption, SPNEGO/NTLM (exec.md §3.1-3.4).

One :class:`WinrmChannel` is one keep-alive HTTP/1.1 connection at a time (:mod:`agent.http1`: h11
on asyncio streams; a new one when the server closes it) that carries one operation sequence.
HTTPS connections are pinned (SHA-256 of the leaf certificate DER) right after the handshake on the
same connection, before any HTTP byte is written. On HTTP (5985) every SOAP body is encrypted with
the SPNEGO context; Basic is not implemented at all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import spnego
from spnego.channel_bindings import GssChannelBindings

from agent.exec.types import ErrorKind, ExecError, Stage, WinrmCredential
from agent.http1 import Connection, Origin, connect
from agent.log import get_logger
from agent.state.atomic import atomic_write, quarantine

log = get_logger("exec")

BOUNDARY = b"Encrypted Boundary"
LAST_SEEN_WRITE_S = 3600.0
#: The largest WS-Man response read (far above any MaxEnvelopeSize a host sets).
RESPONSE_CAP = 32 * 1024 * 1024
USER_AGENT = "msp-agent/winrm"


# -- pins -----------------------------------------------------------------------------------


class TlsPinMismatch(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"certificate of {key} differs from the pin")
        self.key = key


def pin_key(host: str, port: int) -> str:
    return host if port == 5986 else f"{host}:{port}"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WinrmPins:
    """``<state_dir>/winrm_pins.json`` in the Go daemon's format (exec.md §3.2)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._pins: dict[str, dict[str, str]] = {}
        self._lock = asyncio.Lock()
        self._last_write = 0.0
        self.corrupt_quarantined: Path | None = None
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            pins: dict[str, dict[str, str]] = {}
            for host, entry in data.items():
                fp = entry["fingerprint"]
                if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", fp):
                    raise ValueError("bad fingerprint")
                pins[str(host)] = {
                    "fingerprint": fp.lower(),
                    "first_seen": str(entry.get("first_seen", "")),
                    "last_seen": str(entry.get("last_seen", "")),
                }
            self._pins = pins
        except (ValueError, KeyError, TypeError) as exc:
            try:
                self.corrupt_quarantined = quarantine(self.path)
            except OSError:
                self.corrupt_quarantined = None
            log.error(
                "security.pin_store_corrupt",
                "winrm_pins.json is corrupt; quarantined, hosts re-pin",
                store="winrm_pins.json",
                reason=type(exc).__name__,
            )

    def get(self, key: str) -> str | None:
        entry = self._pins.get(key)
        return entry["fingerprint"] if entry else None

    def _render(self, pins: dict[str, dict[str, str]]) -> bytes:
        return json.dumps(pins, indent=2, sort_keys=True).encode() + b"\n"

    async def check(self, key: str, cert_der: bytes) -> None:
        """Compare with the pin (constant time) or pin on first use; raises TlsPinMismatch."""
        fp = hashlib.sha256(cert_der).hexdigest()
        now = time.time()
        pinned = self.get(key)
        if pinned is not None:
            if not hmac.compare_digest(pinned, fp):
                log.error("security.tls_pin_mismatch", "winrm certificate differs from the pin", host=key)
                raise TlsPinMismatch(key)
            self._pins[key]["last_seen"] = _rfc3339(now)
            if now - self._last_write > LAST_SEEN_WRITE_S:
                async with self._lock:
                    self._last_write = now
                    await asyncio.to_thread(atomic_write, self.path, self._render(self._pins), 0o600)
            return
        async with self._lock:
            if self.get(key) is not None:  # pinned concurrently: check against it
                if not hmac.compare_digest(self.get(key) or "", fp):
                    raise TlsPinMismatch(key)
                return
            new = {k: dict(v) for k, v in self._pins.items()}
            new[key] = {"fingerprint": fp, "first_seen": _rfc3339(now), "last_seen": _rfc3339(now)}
            await asyncio.to_thread(atomic_write, self.path, self._render(new), 0o600)
            self._pins = new
            self._last_write = now
        log.info("exec.winrm_pinned", "winrm certificate pinned on first use", host=key)

    async def clear(self, key: str) -> bool:
        async with self._lock:
            if key not in self._pins:
                return False
            new = {k: dict(v) for k, v in self._pins.items() if k != key}
            await asyncio.to_thread(atomic_write, self.path, self._render(new), 0o600)
            self._pins = new
        return True


# -- message encryption framing (MS-WSMV HTTP message encryption) ----------------------------


def encrypted_content_type(protocol: str) -> str:
    return (
        f'multipart/encrypted;protocol="application/HTTP-{protocol}-session-encrypted";'
        f'boundary="{BOUNDARY.decode()}"'
    )


def frame_encrypted(
    header: bytes,
    ciphertext: bytes,
    plain_len: int,
    protocol: str,
    soap_type: str = "application/soap+xml;charset=UTF-8",
) -> bytes:
    """The two-part multipart body: OriginalContent header part, then length|signature|ciphertext."""
    return (
        b"--" + BOUNDARY + b"\r\n"
        b"\tContent-Type: application/HTTP-" + protocol.encode() + b"-session-encrypted\r\n"
        b"\tOriginalContent: type=" + soap_type.encode() + b";Length=" + str(plain_len).encode() + b"\r\n"
        b"--" + BOUNDARY + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + len(header).to_bytes(4, "little")
        + header
        + ciphertext
        + b"--"
        + BOUNDARY
        + b"--\r\n"
    )


class FramingError(ValueError):
    pass


def unframe_encrypted(body: bytes) -> tuple[bytes, bytes, int]:
    """(signature, ciphertext, original length) from a multipart/encrypted body."""
    marker = b"\tContent-Type: application/octet-stream\r\n"
    start = body.find(marker)
    if not body.startswith(b"--" + BOUNDARY) or start < 0:
        raise FramingError("not an encrypted multipart body")
    m = re.search(rb"Length=(\d+)", body[:start])
    if m is None:
        raise FramingError("no OriginalContent length")
    plain_len = int(m.group(1))
    payload = body[start + len(marker) :]
    end = payload.rfind(b"--" + BOUNDARY + b"--")
    if end < 0:
        raise FramingError("unterminated multipart body")
    payload = payload[:end]
    if len(payload) < 4:
        raise FramingError("short encrypted part")
    hlen = int.from_bytes(payload[:4], "little")
    if hlen > len(payload) - 4 or hlen > 1024:
        raise FramingError("bad signature length")
    return payload[4 : 4 + hlen], payload[4 + hlen :], plain_len


def cbt_for(cert_der: bytes) -> GssChannelBindings:
    """``tls-server-end-point`` channel binding (RFC 5929): SHA-256 unless the cert uses a stronger hash."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    algo: Any = hashes.SHA256()
    try:
        h = x509.load_der_x509_certificate(cert_der).signature_hash_algorithm
        if h is not None and h.name in ("sha384", "sha512"):
            algo = h
    except ValueError:
        pass
    digest = hashes.Hash(algo)
    digest.update(cert_der)
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


# -- channel ---------------------------------------------------------------------------------


class WinrmChannel:
    """One authenticated keep-alive connection (reopened when the server closes it; ``generation``
    counts the connections, each TLS one pin-checked right after its handshake)."""

    def __init__(
        self,
        host: str,
        port: int,
        https: bool,
        cred: WinrmCredential,
        pins: WinrmPins,
        connect_timeout: float,
    ) -> None:
        self.host = host
        self.port = port
        self.https = https
        self.cred = cred
        scheme = "https" if https else "http"
        self.url = f"{scheme}://{host}:{port}/wsman"
        self.origin = Origin(scheme, host, port)
        self._ssl: ssl.SSLContext | None = None
        if https:
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            sctx.minimum_version = ssl.TLSVersion.TLSv1_2
            sctx.check_hostname = False  # the pin is the trust anchor (exec.md §3.2)
            sctx.verify_mode = ssl.CERT_NONE
            self._ssl = sctx
        self._pins = pins if https else None
        self._key = pin_key(host, port)
        self._conn: Connection | None = None
        self.generation = 0  # connections opened
        self.cert_der: bytes | None = None  # the current connection's leaf certificate
        self.connect_timeout = connect_timeout
        self._ctx: Any = None
        self._ctx_generation = -1
        self.protocol = "SPNEGO"
        self.requests = 0

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _verify(self, ssl_object: Any, _host: str) -> None:
        """Pin the leaf on the new connection before any HTTP byte is written."""
        cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not cert or self._pins is None:
            raise TlsPinMismatch(self._key)
        await self._pins.check(self._key, cert)
        self.cert_der = cert

    async def _connection(self) -> Connection:
        if self._conn is not None and self._conn.reusable:
            return self._conn
        await self.close()
        self._conn = await connect(
            self.origin,
            ssl_context=self._ssl,
            connect_timeout=self.connect_timeout,
            tls_timeout=self.connect_timeout,
            verify=self._verify if self.https else None,
        )
        self.generation += 1
        return self._conn

    async def _post(
        self, body: bytes, headers: dict[str, str], read_timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One POST to /wsman: (status, headers with lower-case names, repeats joined, body)."""
        self.requests += 1
        conn = await self._connection()
        hdrs = [("Host", self.origin.authority), ("User-Agent", USER_AGENT)]
        hdrs += [(k, v) for k, v in headers.items() if k.lower() != "content-length"]
        try:
            reply = await conn.exchange("POST", "/wsman", hdrs, body, RESPONSE_CAP, read_timeout)
        except BaseException:
            conn.abort()
            self._conn = None
            raise
        if not conn.reusable:
            await self.close()
        joined = {k: ", ".join(reply.headers.getall(k)) for k in reply.headers}
        return reply.status, joined, reply.body

    @staticmethod
    def _token(headers: dict[str, str]) -> bytes | None:
        value = headers.get("www-authenticate", "")
        for part in value.split(","):
            part = part.strip()
            if part.lower().startswith("negotiate "):
                return base64.b64decode(part[len("negotiate ") :].strip())
        return None

    async def authenticate(self) -> None:
        """SPNEGO handshake on the current connection with empty-body POSTs."""
        status, headers, _ = await self._post(b"", {"Content-Length": "0"}, 30)
        if status != 401 or "negotiate" not in headers.get("www-authenticate", "").lower():
            raise ExecError(
                ErrorKind.PROTOCOL_ERROR, Stage.AUTH, f"server does not offer Negotiate (HTTP {status})"
            )
        generation = self.generation
        cbt = cbt_for(self.cert_der) if self.https and self.cert_der else None
        proto = "ntlm" if self.cred.auth == "ntlm" else "negotiate"
        ctx = spnego.client(
            self.cred.username,
            self.cred.password,
            hostname=self.host,
            service="HTTP",
            channel_bindings=cbt,
            protocol=proto,
        )
        in_token: bytes | None = None
        for _ in range(6):
            out = ctx.step(in_token)
            if out is None and ctx.complete:
                break
            hdrs = {
                "Content-Length": "0",
                "Authorization": "Negotiate " + base64.b64encode(out or b"").decode(),
            }
            status, headers, _ = await self._post(b"", hdrs, 30)
            if self.generation != generation:
                raise ExecError(
                    ErrorKind.CONNECTION_LOST, Stage.AUTH, "connection changed during authentication"
                )
            in_token = self._token(headers)
            if status == 200:
                if in_token is not None and not ctx.complete:
                    ctx.step(in_token)
                break
            if status != 401 or in_token is None:
                raise ExecError(ErrorKind.AUTH_FAILED, Stage.AUTH, "credentials rejected", retryable=False)
        if not ctx.complete:
            raise ExecError(
                ErrorKind.AUTH_FAILED, Stage.AUTH, "authentication did not complete", retryable=False
            )
        self._ctx = ctx
        self._ctx_generation = generation
        self.protocol = "Kerberos" if getattr(ctx, "negotiated_protocol", "ntlm") == "kerberos" else "SPNEGO"

    def _wrap(self, soap: bytes) -> tuple[bytes, str]:
        if self.https:
            return soap, "application/soap+xml;charset=UTF-8"
        w = self._ctx.wrap_winrm(soap)
        return frame_encrypted(w.header, w.data, len(soap), self.protocol), encrypted_content_type(
            self.protocol
        )

    def _unwrap(self, status: int, headers: dict[str, str], body: bytes) -> bytes:
        ctype = headers.get("content-type", "")
        if self.https:
            return body
        if not ctype.lower().startswith("multipart/encrypted"):
            raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.RUN, f"unencrypted response (HTTP {status})")
        try:
            sig, data, plain_len = unframe_encrypted(body)
            plain: bytes = self._ctx.unwrap_winrm(sig, data)
        except Exception as exc:  # noqa: BLE001 - any failure to verify is a protocol error
            raise ExecError(
                ErrorKind.PROTOCOL_ERROR, Stage.RUN, f"response failed decryption ({type(exc).__name__})"
            ) from None
        if len(plain) != plain_len:
            raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.RUN, "decrypted length mismatch")
        return plain

    async def call(self, soap: bytes, read_timeout: float) -> tuple[int, bytes]:
        """Send one SOAP message (re-authenticating on a new connection); returns (status, plaintext)."""
        for attempt in range(2):
            if self._ctx is None or self.generation != self._ctx_generation:
                try:
                    await self.authenticate()
                except ExecError as exc:
                    # The server closed the connection mid-handshake (e.g. an idle keep-alive
                    # connection): start again once on the next one.
                    if exc.kind is not ErrorKind.CONNECTION_LOST or attempt:
                        raise
                    self._ctx = None
                    continue
            body, ctype = self._wrap(soap)
            status, headers, data = await self._post(body, {"Content-Type": ctype}, read_timeout)
            if status == 401:
                if self.generation != self._ctx_generation:
                    self._ctx = None  # the request went out on a fresh connection: authenticate it
                    continue
                raise ExecError(
                    ErrorKind.AUTH_FAILED,
                    Stage.AUTH,
                    "credentials rejected after authentication",
                    retryable=False,
                )
            return status, self._unwrap(status, headers, data)
        raise ExecError(ErrorKind.AUTH_FAILED, Stage.AUTH, "re-authentication failed", retryable=False)
