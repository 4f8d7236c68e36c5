"""The pin check on a new TLS connection, right after the handshake and before any request byte
is written (central-api.md §3.2)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from agent.http1 import Verifier
from agent.transport.pins import PinMismatch, PinStore


def verified_chain_der(ssl_object: Any) -> list[bytes]:
    """DER certificates of the validated chain, leaf first."""
    getter = getattr(ssl_object, "get_verified_chain", None)  # public from Python 3.13
    if getter is None:
        inner = getattr(ssl_object, "_sslobj", None)
        getter = getattr(inner, "get_verified_chain", None)
    if getter is not None:
        chain = getter() or []
        out = []
        for cert in chain:
            if isinstance(cert, bytes):
                out.append(cert)
            else:
                out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
        if out:
            return out
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def pin_verifier(pins: PinStore) -> Verifier:
    """``verify(ssl_object, "host:port")`` for :func:`agent.http1.connect`: raises
    :class:`PinMismatch` (any failure to check is a refusal)."""

    async def verify(ssl_object: Any, host: str) -> None:
        try:
            chain = verified_chain_der(ssl_object)
            await asyncio.get_running_loop().run_in_executor(None, pins.check, host, chain)
        except PinMismatch:
            raise
        except Exception as exc:
            raise PinMismatch(host, [], f"pin check failed: {type(exc).__name__}") from exc

    return verify
