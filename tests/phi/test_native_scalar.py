"""The portable build of the native scanner finds the spans of the SSE2 build and of the reference.

``csrc/phi_scan.c`` finds where rules can start by windows of 64 positions filtered with SSE2 on
x86-64, and byte by byte elsewhere (``PHI_SCALAR``, what aarch64 wheels run). The extension in use
is the SSE2 one on this machine; this module compiles the portable one
(``MSP_AGENT_NATIVE_SCALAR=1``, see ``agent._native_build``) into a temporary directory and checks
that both give the same spans as the reference, byte for byte, on the corpus, mutated lines,
random text and window edges.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.phi.conftest import KEY
from tests.phi.test_differential import FRAGMENTS, _mutate

from agent import native
from agent.phi import make_scrubber
from agent.phi.native_scan import NativeScanner
from agent.phi.scrubber import ReferenceScanner, Scanner, Scrubber

ROOT = Path(__file__).resolve().parents[2]


def _build_scalar(work: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Compile the portable build of the core into `work` and load it (not as agent._native)."""
    # the build script of this tree (the package in use may be a copy elsewhere, as under ASan)
    spec = importlib.util.spec_from_file_location("phi_native_build", ROOT / "src/agent/_native_build.py")
    assert spec is not None and spec.loader is not None
    _native_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_native_build)
    shutil.copytree(ROOT / "csrc", work / "csrc")  # cffi compiles relative sources in its tmpdir
    monkeypatch.setenv("MSP_AGENT_NATIVE_SCALAR", "1")  # MSP_AGENT_SANITIZE=1 is honoured
    monkeypatch.chdir(ROOT)
    if not any(shutil.which(cc) for cc in (os.environ.get("CC", "cc"), "gcc", "clang")):
        pytest.skip("no C compiler: the portable build cannot be made")
    so = Path(_native_build.make_builder().compile(tmpdir=str(work), verbose=False))  # must build
    spec = importlib.util.spec_from_file_location("phi_portable._native", so)
    assert spec is not None and spec.loader is not None
    # cffi registers the module it loads as agent._native: keep the build in use registered
    saved = sys.modules.get("agent._native")
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is not None:
            sys.modules["agent._native"] = saved
    return module


@pytest.fixture(scope="module")
def portable(tmp_path_factory: pytest.TempPathFactory) -> Scanner:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    with pytest.MonkeyPatch.context() as mp:
        module = _build_scalar(tmp_path_factory.mktemp("portable"), mp)
    assert module.lib.phi_tag_count() == native.lib().phi_tag_count()
    return NativeScanner(module.ffi, module.lib)


@pytest.fixture(scope="module")
def sse() -> Scanner:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    return NativeScanner()


@pytest.fixture(scope="module")
def ref() -> Scanner:
    return ReferenceScanner()


def _spans(scanner: Scanner, texts: list[str]) -> list[list[tuple[int, int, int]]]:
    return [list(s) for s in scanner.find_spans_many(texts)]


def test_portable_build_is_another_build(portable: Scanner, sse: Scanner) -> None:
    assert isinstance(portable, NativeScanner) and isinstance(sse, NativeScanner)
    assert portable._lib is not sse._lib  # the two builds are distinct libraries


def test_corpus_lines(portable: Scanner, sse: Scanner, ref: Scanner, corpus: list[dict[str, Any]]) -> None:
    texts = [r["text"] for r in corpus]
    want = _spans(ref, texts)
    assert _spans(portable, texts) == want
    assert _spans(sse, texts) == want
    assert sum(map(len, want)) > 3000


def test_mutated_corpus_lines(
    portable: Scanner, sse: Scanner, ref: Scanner, corpus: list[dict[str, Any]]
) -> None:
    rng = random.Random(7_2024)
    pool = [r["text"] for r in corpus]
    texts = [_mutate(rng, rng.choice(pool), pool) for _ in range(6000)]
    got = _spans(portable, texts)
    assert got == _spans(sse, texts)
    assert got == _spans(ref, texts)


def test_window_edges(portable: Scanner, sse: Scanner, ref: Scanner) -> None:
    """Values at every offset around the 64-position windows and the end of the text."""
    values = [
        "SSN 123-45-6789",
        "call 555-123-4567",
        "4111 1111 1111 1111",
        "a@b.co",
        "xpassword=hunter2",
        "12 Main St",
        "PA 18503",
        "1EG4-TE5-MK73",
        "(555) 123-4567",
        "-Password x",
        "MRN: 00123456",
        "dbtoken=abc",
        "+1 555 123 4567",
        "12345-6789",
    ]
    texts = []
    for value in values:
        for pad in range(0, 140):
            texts.append("y" * pad + value)
            texts.append("z " * (pad // 2) + value + " .")
            texts.append(value[: pad % (len(value) + 1)])
    got = _spans(portable, texts)
    assert got == _spans(sse, texts)
    assert got == _spans(ref, texts)
    one = "\n".join(texts)
    assert list(portable.find_spans(one)) == list(sse.find_spans(one)) == ref.find_spans(one)


soup = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
noise = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(soup, noise, st.text(max_size=100)), max_size=6))
def test_random_texts(portable: Scanner, sse: Scanner, ref: Scanner, texts: list[str]) -> None:
    got = _spans(portable, texts)
    assert got == _spans(sse, texts)
    assert got == _spans(ref, texts)


def test_random_bytes(portable: Scanner, sse: Scanner) -> None:
    rng = random.Random(11)
    texts = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(300))).decode("utf-8", "surrogateescape")
        for _ in range(3000)
    ]
    assert _spans(portable, texts) == _spans(sse, texts)


def test_scrub_output(portable: Scanner, corpus: list[dict[str, Any]]) -> None:
    tok = make_scrubber(key=KEY).tokenizer
    texts = [r["text"] for r in corpus][:5000]
    native_out, reference_out = Scrubber(portable, tok), Scrubber(ReferenceScanner(), tok)
    assert native_out.scrub_many(texts) == reference_out.scrub_many(texts)
    whole = "\n".join(texts)
    assert native_out.scrub(whole) == reference_out.scrub(whole)
