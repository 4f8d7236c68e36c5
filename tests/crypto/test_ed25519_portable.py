"""The portable build of the Ed25519 verifier (no ``unsigned __int128``) gives the same verdicts.

``csrc/ed25519/fe.c`` multiplies limbs with ``unsigned __int128`` where the compiler has it and
with 64-bit halves otherwise (``ED25519_PORTABLE``). This module compiles the verifier alone in
the portable form into a temporary directory (with the sanitizers when
``MSP_AGENT_SANITIZE=1``) and checks it against PyNaCl on the edge cases and random mixes.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import cffi
import pytest
from tests.crypto.test_ed25519_batch import _SPEC_POOL, _TORSION_POOL, KEYS, _valid

from agent.crypto.batch import verify_batch_pure, verify_batch_with

ROOT = Path(__file__).resolve().parents[2]
ED = ROOT / "csrc" / "ed25519"


def _cdef() -> str:
    text = (ED / "ed25519_batch.h").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


@pytest.fixture(scope="module")
def portable(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not any(shutil.which(cc) for cc in (os.environ.get("CC", "cc"), "gcc", "clang")):
        pytest.skip("no C compiler")
    work = tmp_path_factory.mktemp("ed25519_portable")
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-DED25519_PORTABLE"]
    link: list[str] = []
    if os.environ.get("MSP_AGENT_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
        flags += san
        link += san
    ffi = cffi.FFI()
    ffi.cdef(_cdef())
    ffi.set_source("ed25519_portable", '#include "ed25519_batch.h"',
                   sources=[str(p) for p in sorted(ED.glob("*.c"))], include_dirs=[str(ED)],
                   extra_compile_args=flags, extra_link_args=link)
    so = Path(ffi.compile(tmpdir=str(work), verbose=False))
    spec = importlib.util.spec_from_file_location("ed25519_portable", so)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop("ed25519_portable", None)
    return module


def test_portable_build_matches_pynacl(portable: Any) -> None:
    rng = random.Random(5)
    items = [_valid(KEYS[i % 3], os.urandom(i)) for i in range(30)]
    items += _TORSION_POOL + _SPEC_POOL
    for i in rng.sample(range(len(items)), 10):
        pk, msg, sig = items[i]
        items[i] = (pk, msg + b"!", sig)
    rng.shuffle(items)
    expected = verify_batch_pure(items)
    assert verify_batch_with(portable.ffi, portable.lib, items) == expected
    for item, verdict in zip(items[:40], expected[:40], strict=True):
        assert verify_batch_with(portable.ffi, portable.lib, [item], native_from=1) == [verdict]
