"""Selection of the native core (``agent._native``) or its pure-Python twins.

The native extension is optional (runtime.md §9). It is used when it imports and
``MSP_AGENT_PURE_PYTHON`` is not set to ``1``; the reason it is not used is kept for
``python -m agent version`` and the start-up log. Modules with a native twin import
:data:`NATIVE` and :func:`lib` from here and never import ``agent._native`` directly.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, NamedTuple


class NativeStatus(NamedTuple):
    """Whether the native core is in use, and why not when it is not."""

    available: bool
    in_use: bool
    reason: str


def _probe() -> tuple[Any, Any, NativeStatus]:
    try:
        _native = importlib.import_module("agent._native")
    except ImportError as exc:
        return None, None, NativeStatus(False, False, f"not built or not importable ({exc})")
    ffi, lib = _native.ffi, _native.lib
    if lib.agent_native_selftest(1) != (2654435761 + 0x9E3779B9) % 2**32:
        return None, None, NativeStatus(True, False, "self-test failed")
    if os.environ.get("MSP_AGENT_PURE_PYTHON", "").strip() == "1":
        return None, None, NativeStatus(True, False, "disabled by MSP_AGENT_PURE_PYTHON=1")
    return ffi, lib, NativeStatus(True, True, "loaded")


_FFI, _LIB, STATUS = _probe()
NATIVE: bool = STATUS.in_use


def ffi() -> Any:
    """The cffi ``FFI`` object of the native core; only valid when :data:`NATIVE` is true."""
    if _FFI is None:
        raise RuntimeError(f"native core not in use: {STATUS.reason}")
    return _FFI


def lib() -> Any:
    """The compiled library of the native core; only valid when :data:`NATIVE` is true."""
    if _LIB is None:
        raise RuntimeError(f"native core not in use: {STATUS.reason}")
    return _LIB


def batch_verifier() -> tuple[bool, str]:
    """Whether the native Ed25519 batch verifier is in use, and why not when it is not (here, not
    in :mod:`agent.crypto.batch`, so ``version`` reports it without loading PyNaCl)."""
    if not NATIVE:
        return False, STATUS.reason
    if not hasattr(lib(), "ed25519_verify_batch"):
        return False, "native core built without the Ed25519 batch verifier"
    return True, "native batch verifier (csrc/ed25519)"
