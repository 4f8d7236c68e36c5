"""An aiohttp connector that checks TLS pins on the connection itself, right after the
handshake and before any request byte is written (central-api.md §3.2)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

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


class PinningConnector(aiohttp.TCPConnector):
    """TCPConnector whose new TLS connections must pass :class:`PinStore`."""

    def __init__(self, pins: PinStore | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pins = pins

    async def _wrap_create_connection(
        self, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        transport, proto = await super()._wrap_create_connection(*args, **kwargs)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or self._pins is None:
            return transport, proto
        req = kwargs.get("req")
        host = f"{req.host}:{req.port}" if req is not None else "unknown"
        try:
            chain = verified_chain_der(ssl_object)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._pins.check, host, chain)
        except PinMismatch:
            transport.abort()
            raise
        except Exception as exc:  # any failure to check is a refusal
            transport.abort()
            raise PinMismatch(host, [], f"pin check failed: {type(exc).__name__}") from exc
        return transport, proto
