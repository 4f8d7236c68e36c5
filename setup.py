"""Build hook: compile the native core (``csrc/`` via cffi) into a platform wheel.

Two builds, each chosen on purpose, never one silently becoming the other:

* **platform** (the default): ``agent._native`` is compiled against the limited API and the wheel
  is tagged ``cp311-abi3-<platform>`` (one wheel for every CPython >= 3.11); the extension is
  stripped. A failed compile is an **error** that says how to build the pure wheel instead.
* **pure** (``MSP_AGENT_NO_NATIVE=1``): no extension, a ``py3-none-any`` wheel; the pure-Python
  twin of every native function is used at run time.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

PURE = os.environ.get("MSP_AGENT_NO_NATIVE", "") in ("1", "true", "yes")


class NativeBuildExt(build_ext):
    """``build_ext`` that names the way out when the compile fails (and never reuses a stale
    object from an earlier ``build/``: every build compiles afresh)."""

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        self.force = True  # an up-to-date check against build/ would skip a broken compiler
        try:
            super().build_extension(ext)
        except Exception as exc:
            sys.stderr.write(
                f"msp-agent: the native core did not compile ({exc}).\n"
                "msp-agent: install a C compiler and the Python headers, or build the pure-Python "
                "wheel on purpose with MSP_AGENT_NO_NATIVE=1.\n")
            raise


kwargs: dict[str, object] = {}
if not PURE:
    kwargs["cmdclass"] = {"build_ext": NativeBuildExt}
    kwargs["cffi_modules"] = ["src/agent/_native_build.py:ffibuilder"]
    kwargs["options"] = {"bdist_wheel": {"py_limited_api": "cp311"}}

setup(**kwargs)  # type: ignore[arg-type]
