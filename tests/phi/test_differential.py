"""Native and reference scanners find the same spans, byte for byte (phi.md §6)."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.phi.conftest import KEY

from agent.phi import make_scrubber, native_scan
from agent.phi.scrubber import ReferenceScanner, Scanner, Scrubber

# Fragments that exercise every rule: labels, separators, values, near-misses.
FRAGMENTS = [
    "SSN", "SS#", "social security number", "MRN", "mrn#", "medical record no.", "chart",
    "patient", "Patient Name", "patient_id", "pt id", "PT", "pt", "name", "Name", "account",
    "Acct", "insurance id", "Policy #", "policy no.", "Member ID", "group number", "DOB",
    "D.O.B.", "date of birth", "born on", "birthday", "phone", "tel", "fax", "callback", "sms",
    "zip", "postal code", "PA", "ID", "OR", ", ", "email", "Dr.", "Mrs", "Ms.", "Miss", "Mr",
    "password", "Password", "pwd", "passwd", "token", "api_key", "client_secret", "secret",
    "-Password", "ConvertTo-SecureString", "-String", "Authorization", "Bearer", "Basic",
    "https://", "ftp://user:", "@", "@host.com", "user", ".example.org", "-----BEGIN",
    "PRIVATE KEY", "RSA", "-----", "-----END", "BLOCK", "PID|", "|", "^", "~", "MSH|",
    "/patients/", "\\PatientRecords\\", "/srv/ehr/", "emr", "medical", "/charts/", "\\\\",
    "PATIENT-ROOM-", "BED-4A", "ROOM201", "room", "Edward", "bedrock", "EXAM-3-PC", "PT30S",
    "Street", "St", "Ave", "Rd.", "Main", "MAIN", "Apt 2B", "Suite 110", "#12", "5th",
    "Jan", "January", "5th,", "Sept.", "O'Brien", "Smith-Jones", "McDonald", "Sofia", "SMITH",
    "123-45-6789", "123 45 6789", "000-12-3456", "666-12-3456", "912-34-5678", "123456789",
    "555-123-4567", "(555) 123-4567", "(555)123-4567", "555.123.4567", "555 123 4567",
    "+1 555 123 4567", "+1-555-123-4567", "1-555-123-4567", "+15551234567", "5551234567",
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005",
    "6011111111111117", "5555555555554444", "1825075505501099", "serial", "s/n", "thumbprint",
    "12345-6789", "18503", "1980-01-05", "01/05/1980", "1/5/80", "19800105", "5.1.1980",
    "1EG4-TE5-MK73", "1EG4TE5MK73", "2AB3CD4EF56", "192.168.1.10", "10.0.19041.1234",
    "S-1-5-21-3180628982-3664976141-3878940490-2055", "0x2C400B95", "KB4433283",
    "22995d84-016e-51c6-b36d-6f3c9f0ac905", "epoch=1718899119", "v3.2.1", "164.312(a)(1)",
    "is", "number", "no", "no.", ":", "=", "#", "-", "\"", "'", " ", "  ", "\t", "\n", "\r",
    ".", ",", ";", "&", "(", ")", "/", "\\", "_", "0", "1", "42", "1234", "98765", "é", "ü",
    "日本", "\u212a", "\ud800", "\x00", "A", "z",
    # issue 17 forms
    "Pt.", "Pt.:", "MR#", "MRN1234567", "DOE, JANE", "jane doe", "Q.", "q. ", "Patient:",
    "Name=", "was", "3rd of March 1980", "3-Mar-1980", "12/Mar/80", "of", "PO Box", "P.O. Box",
    "p o box #", "N.", "123.45.6789", "123 - 45 - 6789", "4111.1111.1111.1111", "1eg4-te5-mk73",
    "1eg4te5mk73", "Phone:", "555-123-4567", "(555) 123-4567", "1-555-123-4567",
    "{", "}", "\":", "': ", "\"ssn\"", "'dob'", "\"firstName\"", "First-Name", "last_name",
    "\"patient\":\"", "null", "true", "\\\"", "\"token\": ", "member_id", "zip\":",
    "sshpass", "-p", "-p'", "net use", "netuse", "/user:", "/u:", "CLINIC\\bob", "*", "hunter2",
    "s3cret!", "Patient/", "Patient/123456", "/fhir/",
    "pid|", "NK1|", "GT1|", "IN1|", "nk1#", "MSH#*!\\&", "msh|", "\\r", "\\n", "\\rPID|", "*", "!",
    "DOE^JANE", "1^^^MRN~2^^^ALT", "||", "#",
    "UGF0aWVudDogSmFuZSBEb2UgU1NOIDEyMy00NS02Nzg5", "aGVsbG8gd29ybGQsIG5vdGhpbmcgaGVyZSBhdCBhbGw=",
    "TVJOIDEyMzQ1Njc4IG9r", "=", "==", "+/", "AAAAAAAAAAAAAAAA",
]

soup = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)
spaced_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=16).map(" ".join)
digits = st.text(alphabet="0123456789 -./()+#:", max_size=80)
ascii_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=120)
any_text = st.text(max_size=120)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(nat: Scanner, ref: Scanner, text: str) -> None:
    assert list(nat.find_spans(text)) == list(ref.find_spans(text)), repr(text)


@SETTINGS
@given(soup)
def test_label_soup(nat: Scanner, ref: Scanner, text: str) -> None:
    same(nat, ref, text)


@SETTINGS
@given(spaced_soup)
def test_spaced_label_soup(nat: Scanner, ref: Scanner, text: str) -> None:
    same(nat, ref, text)


@SETTINGS
@given(digits)
def test_digit_runs(nat: Scanner, ref: Scanner, text: str) -> None:
    same(nat, ref, text)


@SETTINGS
@given(ascii_text)
def test_ascii(nat: Scanner, ref: Scanner, text: str) -> None:
    same(nat, ref, text)


@SETTINGS
@given(any_text)
def test_unicode(nat: Scanner, ref: Scanner, text: str) -> None:
    same(nat, ref, text)


@settings(max_examples=100, deadline=None)
@given(st.lists(soup, max_size=20))
def test_batch_equals_single(nat: Scanner, ref: Scanner, texts: list[str]) -> None:
    assert [list(s) for s in nat.find_spans_many(texts)] == [ref.find_spans(t) for t in texts]


def test_corpus_lines(nat: Scanner, ref: Scanner, corpus: list[dict[str, Any]]) -> None:
    texts = [r["text"] for r in corpus]
    got = nat.find_spans_many(texts)
    want = ref.find_spans_many(texts)
    diff = [t for t, a, b in zip(texts, got, want, strict=True) if list(a) != list(b)]
    assert diff == []
    assert sum(len(s) for s in got) > 3000  # the corpus is full of PHI: spans were found


def _mutate(rng: random.Random, text: str, pool: list[str]) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 1:
            chars.insert(i, rng.choice(" -:#=./\\|^'\"0123456789aZé"))
        elif op == 2 and chars:
            j = min(i, len(chars) - 1)
            chars[j] = chars[j].swapcase()
        elif op == 3:
            other = rng.choice(pool)
            k = rng.randrange(len(other) + 1)
            chars[i:i] = list(other[k : k + rng.randint(1, 30)])
        elif op == 4 and chars:
            chars = chars[i:] + chars[:i]
        else:
            chars[i:i] = list(rng.choice(FRAGMENTS))
    return "".join(chars)


def test_mutated_corpus_lines(nat: Scanner, ref: Scanner, corpus: list[dict[str, Any]]) -> None:
    rng = random.Random(20240611)
    pool = [r["text"] for r in corpus]
    texts = [_mutate(rng, rng.choice(pool), pool) for _ in range(20000)]
    got = nat.find_spans_many(texts)
    diff = [t for t, a in zip(texts, got, strict=True) if list(a) != list(ref.find_spans(t))]
    assert diff == []


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([*FRAGMENTS, "Patient SSN: 635 02 8625 callback (524)274-7279"]), soup)
def test_scrub_output_identical(nat: Scanner, ref: Scanner, head: str, tail: str) -> None:
    text = head + " " + tail
    tok = make_scrubber(key=KEY).tokenizer
    assert Scrubber(nat, tok).scrub(text) == Scrubber(ref, tok).scrub(text)


def test_long_text_and_span_overflow(nat: Scanner, ref: Scanner) -> None:
    """A text with more spans than one output buffer holds is scanned in several calls."""
    text = "SSN 123-45-6789 é " * 70000 + "tail@example.com"
    got = list(nat.find_spans(text))
    assert got == ref.find_spans(text)
    assert len(got) == 70001


@pytest.mark.parametrize("text", [
    "password \udce77; error", "password é7", "password ü!x", "password 日7", "password é7ab",
    "Wltal-\udcff\udcffpassword \udce77; error 0x1u", "password \U0001f6007",
])
def test_lengths_are_counted_in_characters_not_bytes(nat: Scanner, ref: Scanner, text: str) -> None:
    """``password VALUE`` needs 4 characters: a value of two non-ASCII characters is 4+ UTF-8
    bytes (the fuzzer's cross-check found the C scanner counting bytes)."""
    same(nat, ref, text)


def test_empty_and_batch_edges(nat: Scanner) -> None:
    assert nat.find_spans_many([]) == []
    assert [list(s) for s in nat.find_spans_many(["", "x", ""])] == [[], [], []]


# The native scrubber renders the tokens in C (only the hashes come from Python): its output
# must be the reference output, byte for byte, whatever the batch looks like.

def _pair(nat: Scanner, mode: str = "hmac") -> tuple[Scrubber, Scrubber]:
    tok = make_scrubber(key=KEY, mode=mode).tokenizer  # type: ignore[arg-type]
    return Scrubber(nat, tok), Scrubber(ReferenceScanner(), tok)


def test_scrub_many_corpus_identical(nat: Scanner, corpus: list[dict[str, Any]]) -> None:
    texts = [r["text"] for r in corpus]
    for mode in ("hmac", "sha256"):
        native, reference = _pair(nat, mode)
        assert native.scrub_many(texts) == reference.scrub_many(texts)
        assert native.scrub("\n".join(texts[:2000])) == reference.scrub("\n".join(texts[:2000]))


def test_scrub_many_mutated_identical(nat: Scanner, corpus: list[dict[str, Any]]) -> None:
    rng = random.Random(7)
    pool = [r["text"] for r in corpus]
    texts = [_mutate(rng, rng.choice(pool), pool) for _ in range(5000)]
    native, reference = _pair(nat)
    got = native.scrub_many(texts)
    assert got == reference.scrub_many(texts)
    assert [native.scrub(t) for t in texts[:500]] == got[:500]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(soup, spaced_soup, any_text, st.sampled_from(["", "\x00", "a\x00b"])),
                max_size=12))
def test_scrub_many_identical(nat: Scanner, texts: list[str]) -> None:
    native, reference = _pair(nat)
    assert native.scrub_many(texts) == reference.scrub_many(texts)
    assert [native.scrub(t) for t in texts] == [reference.scrub(t) for t in texts]


def test_scrub_many_edges(nat: Scanner) -> None:
    native, reference = _pair(nat)
    texts = ["", "SSN 123-45-6789", "\x00SSN 123-45-6789\x00", "é x@y.com ü", "\ud800 pwd=x",
             "password=hunter2", "nothing here"]
    assert native.scrub_many(texts) == reference.scrub_many(texts)
    assert native.scrub_many([]) == []
    plain = ["no phi", "none either"]
    out = native.scrub_many(plain)
    assert out == plain and all(a is b for a, b in zip(out, plain, strict=True))
    long_text = "SSN 123-45-6789 é " * 30000 + "pwd=x tail@example.com"
    assert native.scrub(long_text) == reference.scrub(long_text)
    many = ["SSN 123-45-6789 " * 50] * 400  # more spans than the first span buffer holds
    assert native.scrub_many(many) == reference.scrub_many(many)


# Large inputs are scanned by two threads (a batch cut in two; one text cut at its middle,
# the halves joined where both scans stand on the same position), and the hashes are computed
# once per distinct value. Forced on small inputs here: the output must not change.

@pytest.fixture
def split_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_scan, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(native_scan, "_PARALLEL", [True])
    monkeypatch.setattr(native_scan, "_DEDUPE_TABLE", 4)  # 2 values remembered, then no more


@pytest.mark.usefixtures("split_everything")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(soup, spaced_soup, any_text), max_size=8))
def test_split_scan_identical(nat: Scanner, texts: list[str]) -> None:
    native, reference = _pair(nat)
    assert native.scrub_many(texts) == reference.scrub_many(texts)
    whole = "\n".join(texts)
    assert native.scrub(whole) == reference.scrub(whole)


@pytest.mark.usefixtures("split_everything")
def test_split_scan_across_matches(nat: Scanner, corpus: list[dict[str, Any]]) -> None:
    """Matches that run across the middle: the two scans meet after them."""
    native, reference = _pair(nat)
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE" + "x" * 200 + "\n-----END RSA PRIVATE KEY-----"
    cases = [pem, "a " + pem + " b", "pwd=\"" + "y" * 300 + "\" x", "PID|1|" + "|".join(["1234567"] * 30),
             "x " * 100 + "SSN 123-45-6789 " + "y " * 100, "Patient " + "Smith " * 200]
    for base in cases:
        for pad in range(0, 24, 3):
            text = "z" * pad + base + " tail"
            assert native.scrub(text) == reference.scrub(text), text
            assert list(nat.find_spans(text)) == list(ReferenceScanner().find_spans(text))
    texts = [r["text"] for r in corpus][:3000]
    assert native.scrub_many(texts) == reference.scrub_many(texts)
    whole = "\n".join(texts)
    assert native.scrub(whole) == reference.scrub(whole)


def test_scan_range_resumes(nat: Scanner, corpus: list[dict[str, Any]]) -> None:
    """phi_scan_range up to any stop, then on from where it stopped: the spans of one scan."""
    from agent import native

    ffi, lib = native.ffi(), native.lib()
    text = "\n".join(r["text"] for r in corpus[:400]).encode("utf-8", "surrogatepass")
    data = ffi.from_buffer(text)
    out = ffi.new("phi_span[]", 4096)
    nxt = ffi.new("size_t *")
    full = lib.phi_scan(data, len(text), 0, out, 4096, nxt)
    want = [(s.tag, s.start, s.end) for s in out[0:full]]
    rng = random.Random(3)
    for stop in [0, 1, len(text) // 2, len(text)] + [rng.randrange(len(text)) for _ in range(60)]:
        got = lib.phi_scan_range(data, len(text), 0, stop, out, 4096, nxt)
        first = [(s.tag, s.start, s.end) for s in out[0:got]]
        assert nxt[0] >= min(stop, len(text))
        rest = lib.phi_scan(data, len(text), nxt[0], out, 4096, nxt)
        assert first + [(s.tag, s.start, s.end) for s in out[0:rest]] == want


def test_parallel_scan_is_off_unless_a_tool_turns_it_on() -> None:
    """The daemon keeps to its two I/O worker threads (runtime.md §1): no scan thread by default."""
    assert native_scan._pool() is None
    native_scan.set_parallel(True)
    try:
        pool = native_scan._pool()
        assert pool is not None or len(os.sched_getaffinity(0)) < 2
    finally:
        native_scan.set_parallel(False)
    assert native_scan._pool() is None
