"""The reference scanner's candidate search changes nothing (agent.phi.reference).

``find_spans`` tries the rules only where two regexes say that some rule may start. Its spans
must be those of the plain scan of the module docstring: every rule, in order, at every
position. If a candidate pattern missed a position where a rule matches, a span would be lost.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.phi.test_differential import FRAGMENTS

from agent.phi import reference
from agent.phi import rules as R
from agent.phi.reference import Span


def scan_everywhere(text: str) -> list[Span]:
    """The scan as specified: at each position the first rule that matches wins."""
    spans: list[Span] = []
    pos = 0
    while pos <= len(text):
        for rule in reference.RULES:
            found = rule.apply(text, pos)
            if found is not None:
                spans.extend(found[0])
                pos = found[1]
                break
        else:
            pos += 1
    return spans


def same(text: str) -> None:
    assert reference.find_spans(text) == scan_everywhere(text), repr(text)


# Rules at the start of the text, inside words (the four that may start there), right after
# another match, after non-ASCII characters, and at the end.
EDGES = [
    "",
    "x",
    "SSN 832-15-9624",
    "832-15-9624 imported",
    "(629) 917-9217",
    "+15551234567",
    "1-555-234-5678",
    "1 (555) 234-5678",
    "+1 555 234 5678",
    "PID|1||12345^^^MRN||DOE^JOHN",
    "password=hunter2",
    "New-LocalUser x -Password hunter2",
    "dbpassword=hunter2",
    "my_api_key: abc123",
    "mytoken: abc123",
    "session token=abc123",
    "xclient_secret='s3cr3t'",
    "userAuthorization: Bearer abc.def",
    "$x=ConvertTo-SecureString 'pw' -AsPlainText",
    "x-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    "------BEGIN PRIVATE KEY-----",
    "\\\\srv\\PatientRecords\\Jane Doe\\scan.pdf",
    "/srv/ehr/12345",
    "mailto:john.doe@example.org",
    "https://admin:pa55@host/x",
    "é832-15-9624é",
    "日本SSN 832-15-9624",
    "a832-15-9624",
    "1.832-15-9624",
    "SSN 832-15-9624SSN 832-15-9624",
    "Dr. Smith, Mrs Jones and Mr O'Brien",
    "Scranton, PA 18503",
    "ROOM201 BED-4A-MONITOR PT30S",
    "patient John Smith name Jane Doe",
    "1EG4-TE5-MK73",
    "4111 1111 1111 1111",
    "12 Main Street Apt 2B",
    "tel:5551234567",
    "MRN",
    "MRN:",
    "email a@b",
]


@pytest.mark.parametrize("text", EDGES)
def test_edges(text: str) -> None:
    same(text)


def test_edges_find_spans() -> None:
    # The edge cases are not all misses: most of them have spans.
    assert sum(1 for t in EDGES if reference.find_spans(t)) >= 25


def test_corpus_lines(corpus: list[dict[str, Any]]) -> None:
    texts = [r["text"] for r in corpus[::10]]
    for text in texts:
        same(text)
    # Long texts: the searches resume after each match, far from the start.
    same("\n".join(texts[:400]))
    same(" ".join(texts[400:800]))


def test_mutated_corpus_lines(corpus: list[dict[str, Any]]) -> None:
    rng = random.Random(1729)
    pool = [r["text"] for r in corpus]
    for _ in range(1500):
        chars = list(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars) + 1)
            piece = rng.choice([*FRAGMENTS, *" -:#=./\\|^'\"0123456789aZé"])
            if rng.random() < 0.3 and chars:
                del chars[min(i, len(chars) - 1)]
            else:
                chars[i:i] = list(piece)
        same("".join(chars))


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=20).map("".join))
def test_fragment_soup(text: str) -> None:
    same(text)


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map(" ".join))
def test_spaced_fragment_soup(text: str) -> None:
    same(text)


@SETTINGS
@given(st.text(alphabet="0123456789 -./()+#:Aa", max_size=60))
def test_digit_runs(text: str) -> None:
    same(text)


@SETTINGS
@given(st.text(max_size=80))
def test_any_text(text: str) -> None:
    same(text)


def test_every_rule_has_a_candidate_entry() -> None:
    # A rule that no entry names would never be tried.
    named = [n for names, _ in reference._AFTER_BOUNDARY_ENTRIES for n in names]
    named += [n for names, _ in reference._ANYWHERE_ENTRIES for n in names]
    assert set(named) == {r.name for r in reference.RULES}


LABEL_LISTS = [
    R.SSN_LABELS,
    R.MRN_LABELS,
    R.PATIENT_ID_LABELS,
    R.INSURANCE_LABELS,
    R.DOB_LABELS,
    R.NAME_LABELS,
    R.SECRET_LABELS,
    R.CLINICAL_DIRS,
    R.HOSTNAME_PREFIXES,
    reference._LABELLED_WORDS,
]


def _variants(word: str, rng: random.Random) -> str:
    """``word`` in random case, with random joiners for its spaces, maybe cut or extended."""
    out = "".join(
        rng.choice(["", " ", "_", "-", "  "]) if c == " " else rng.choice([c.lower(), c.upper()])
        for c in word
    )
    if rng.random() < 0.3:
        out = out[: rng.randrange(len(out) + 1)]
    return out + rng.choice(["", " ", "s", "1", ":", "#", ".", "é"])


@pytest.mark.parametrize("words", LABEL_LISTS, ids=lambda w: w[0])
@pytest.mark.parametrize("bounded", [True, False])
def test_trie_matches_what_labels_match(words: tuple[str, ...], bounded: bool) -> None:
    trie = re.compile("(?:" + reference._trie(words, bounded=bounded) + ")", re.ASCII)
    alternation = reference.labels(words)
    if not bounded:
        alternation = alternation.replace(reference.AR, "")
    plain = re.compile(alternation, re.ASCII)
    rng = random.Random(words[0])
    samples = [_variants(rng.choice(words), rng) for _ in range(3000)]
    for s in samples:
        assert (trie.match(s) is None) == (plain.match(s) is None), (s, words)
    assert sum(1 for s in samples if trie.match(s)) > 1000  # the words were matched
