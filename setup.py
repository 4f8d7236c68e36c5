"""Build hook: compile the optional native core (``csrc/`` via cffi) when a compiler works.

The native extension ``agent._native`` is optional. If no C compiler is available, or the
build fails, or ``MSP_AGENT_NO_NATIVE=1`` is set, the package installs without it and the
pure-Python twins of every native function are used at run time.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns a failed native build into a warning."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001  # any failure leaves the fallback
            _warn(exc)

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            _warn(exc)


def _warn(exc: BaseException) -> None:
    sys.stderr.write(
        f"msp-agent: native core not built ({exc}); the pure-Python implementation will be used\n"
    )


kwargs: dict[str, object] = {"cmdclass": {"build_ext": OptionalBuildExt}}
if os.environ.get("MSP_AGENT_NO_NATIVE", "") not in ("1", "true", "yes"):
    kwargs["cffi_modules"] = ["src/agent/_native_build.py:ffibuilder"]

setup(**kwargs)  # type: ignore[arg-type]
