"""cffi builder for ``agent._native`` (out-of-line API mode).

Every ``csrc/*.c`` file is compiled into one extension with strict C11 flags; the declarations
exposed to Python are read from ``csrc/agent_native.h``. ``MSP_AGENT_SANITIZE=1`` adds
AddressSanitizer and UBSan instrumentation (used by one CI job; load it with the ASan runtime
preloaded). ``MSP_AGENT_NATIVE_SCALAR=1`` builds the portable byte-by-byte PHI scan instead of
the SSE2 window filter (what CPUs without SSE2 run; the tests build and check both).
"""

from __future__ import annotations

import os
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
HEADER = CSRC / "agent_native.h"
ED25519_HEADER = CSRC / "ed25519" / "ed25519_batch.h"  # the Ed25519 batch verifier (csrc/ed25519/)

STRICT_FLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fvisibility=hidden"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]


def _cdef_text(header: Path = HEADER) -> str:
    lines = []
    for line in header.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue  # include guards and includes are for the C compiler only
        lines.append(line)
    return "\n".join(lines)


def make_builder() -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(_cdef_text())
    ffi.cdef(_cdef_text(ED25519_HEADER))
    sources = sorted(str(p.relative_to(ROOT)) for p in [*CSRC.glob("*.c"), *CSRC.glob("ed25519/*.c")])
    cflags = list(STRICT_FLAGS)
    ldflags: list[str] = []
    libraries: list[str] = []
    if os.environ.get("MSP_AGENT_SANITIZE") == "1":
        cflags = [f for f in cflags if f != "-O2"] + ["-O1", *SANITIZE_FLAGS]
        ldflags += SANITIZE_FLAGS
    else:
        ldflags.append("-s")  # the shipped extension is stripped (no symbols or debug info)
    if os.environ.get("MSP_AGENT_NATIVE_SCALAR") == "1":
        cflags.append("-DPHI_SCALAR")
    extra_libs = os.environ.get("MSP_AGENT_NATIVE_LIBS", "")
    libraries += [lib for lib in extra_libs.split(",") if lib]
    ffi.set_source(
        "agent._native",
        '#include "agent_native.h"\n#include "ed25519/ed25519_batch.h"',
        sources=sources,
        include_dirs=[str(CSRC.relative_to(ROOT))],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        libraries=libraries,
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
