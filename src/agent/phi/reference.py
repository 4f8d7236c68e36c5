"""Reference PHI scanner: the executable form of phi.md §3–§4, in pure Python (``re``).

Scanning semantics (the native scanner reproduces them byte for byte):

* The text is scanned left to right. At each position the rules are tried in :data:`RULES`
  order; the first rule that matches there *and* passes its checks wins, its spans are kept,
  and scanning resumes where its match ends. If no rule matches, scanning moves on by one
  character. So the leftmost match wins, and among matches at the same position the earlier
  rule wins.
* Every pattern is written so that it has one possible match at a given position (atomic
  groups and possessive quantifiers, maximal runs): what a rule matches never depends on
  backtracking into alternatives that a hand-written scanner would not try.
* All classes are ASCII (``re.ASCII``); any non-ASCII character is neither a letter, a digit,
  a separator nor a space, and is never part of a label.

A match covers the label and the value; only the value becomes a span (the label stays).

For speed, :func:`find_spans` does not try the rules at every position: two regexes find, in
C, the positions where some rule may match (see "candidate search" below), and the rules are
tried there only. That changes nothing in the result.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Sequence
from typing import Final

from agent.phi import rules as R

Span = tuple[int, int, int]  # (tag index, start, end) in characters
Match = tuple[list[Span], int]  # spans found, and the position where scanning resumes

AL: Final = r"(?<![A-Za-z0-9])"  # not preceded by a letter or digit
AR: Final = r"(?![A-Za-z0-9])"  # not followed by a letter or digit
NL: Final = r"(?<![A-Za-z0-9])(?<![0-9][.-])"  # numeric start: not inside 1.2 or 1-2 chains
NR: Final = r"(?![A-Za-z0-9])(?![.-][0-9])"
SEPCH: Final = r"[\t\n\x0b\x0c\r \"#'\-:=]"
LSEP: Final = rf"(?>{SEPCH}*)(?>(?:(?i:{'|'.join(R.LABEL_WORDS)}){AR}\.?{SEPCH}*)?)"
SP: Final = r"[\t\n\x0b\x0c\r ]"  # ASCII whitespace


def _label(label: str) -> str:
    body = "".join("[ _-]?" if ch == " " else re.escape(ch) for ch in label)
    return body + (AR if label[-1].isalnum() else "")


def labels(words: Sequence[str]) -> str:
    """Case-insensitive alternation of labels, first full match wins (atomic)."""
    return "(?>(?i:" + "|".join(_label(w) for w in words) + "))"


def _tag(name: str) -> int:
    return R.TAG_INDEX[name]


def _digits(s: str) -> int:
    return sum(1 for c in s if "0" <= c <= "9")


def _is_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


# --------------------------------------------------------------------------- rules


class Rule:
    """One row of the scanning table: a pattern, a check, and the spans it yields."""

    __slots__ = ("check", "first", "name", "rx", "tag")

    def __init__(
        self,
        name: str,
        tag: str,
        pattern: str,
        first: str,
        check: Callable[[re.Match[str], str], bool] | None = None,
    ) -> None:
        self.name = name
        self.tag = _tag(tag)
        self.rx = re.compile(pattern, re.ASCII)
        self.first = first
        self.check = check

    def apply(self, text: str, pos: int) -> Match | None:
        m = self.rx.match(text, pos)
        if m is None or (self.check is not None and not self.check(m, text)):
            return None
        return [(self.tag, m.start("v"), m.end("v"))], m.end()


_SEP_CH: Final = r"[!-/:-@\[-`{-~]"  # printable ASCII, not a letter or digit
_MSH: Final = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=\\[rn]))(?i:msh)(?=" + _SEP_CH + ")", re.ASCII)
_TERMINATORS: Final = ("\r", "\n", "\\r", "\\n")  # and the literal \r, \n of logs


def _is_sep(c: str) -> bool:
    return len(c) == 1 and "!" <= c <= "~" and not c.isalnum()


def hl7_separators(text: str, seg: int) -> tuple[str, str, str]:
    """(field, component, repetition) separators of the segment at ``seg``: MSH-1 and MSH-2 of
    the last MSH segment before it, else ``|``, ``^``, ``~``."""
    last = None
    for last in _MSH.finditer(text, 0, seg):  # noqa: B007 - the last one is wanted
        pass
    if last is None:
        return "|", "^", "~"
    i = last.start()
    fs, comp, rep = text[i + 3], text[i + 4 : i + 5], text[i + 5 : i + 6]
    if not _is_sep(comp) or comp == fs:
        return fs, "^", "~"
    if not _is_sep(rep) or rep in (fs, comp):
        rep = "~"
    return fs, comp, rep


class HL7Rule(Rule):
    """An HL7 v2 segment of :data:`rules.HL7_SEGMENTS` (any case), at a boundary or after the
    literal ``\\r``/``\\n`` of a logged message: its PHI fields become spans. Separators come
    from the last MSH segment before it; the segment ends at a CR, LF, or a literal ``\\r``,
    ``\\n``. At most :data:`rules.HL7_MAX_SPANS` spans; scanning resumes after the last."""

    def apply(self, text: str, pos: int) -> Match | None:
        if text.startswith(("\\r", "\\n"), pos):
            seg = pos + 2
        elif pos == 0 or not _is_alnum(text[pos - 1]):
            seg = pos
        else:
            return None
        fields = R.HL7_SEGMENTS.get(text[seg : seg + 3].lower())
        if fields is None or not text[seg : seg + 3].isascii():
            return None
        fs, comp, rep = hl7_separators(text, seg)
        if text[seg + 3 : seg + 4] != fs:
            return None
        seg_end = len(text)
        for stop in _TERMINATORS:
            i = text.find(stop, seg + 4, seg_end)
            if i >= 0:
                seg_end = i
        spans: list[Span] = []
        field, start = 1, seg + 4
        while field <= max(fields) and len(spans) < R.HL7_MAX_SPANS:
            bar = text.find(fs, start, seg_end)
            end = seg_end if bar < 0 else bar
            spec = fields.get(field)
            if spec is not None:
                tag, whole = spec
                parts = [(start, end)]
                if not whole:  # the first component of each repetition
                    parts, r = [], start
                    while True:
                        r_end = text.find(rep, r, end)
                        r_end = end if r_end < 0 else r_end
                        c = text.find(comp, r, r_end)
                        parts.append((r, r_end if c < 0 else c))
                        if r_end == end:
                            break
                        r = r_end + 1
                for a, b in parts:
                    if b > a and len(spans) < R.HL7_MAX_SPANS:
                        spans.append((_tag(tag), a, b))
            if bar < 0:
                break
            field, start = field + 1, bar + 1
        if not spans:
            return None
        return spans, spans[-1][2]


_B64_CH: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_PRINTABLE: Final = frozenset(range(0x20, 0x7F)) | {9, 10, 13}
_NESTED = threading.local()


class Base64Rule(Rule):
    """A base64 run (not preceded by a base64 character): from :data:`rules.B64_MIN` to
    :data:`rules.B64_MAX` characters with its ``=`` padding, a multiple of 4, not followed by a
    base64 character or ``=``. If it decodes to printable ASCII in which a scan (without this
    rule) finds a span, the whole run becomes one span of the first span's tag."""

    def apply(self, text: str, pos: int) -> Match | None:
        if getattr(_NESTED, "depth", 0) or (pos > 0 and text[pos - 1] in _B64_CH):
            return None
        e = pos
        while e < len(text) and text[e] in _B64_CH:
            e += 1
        pad = 0
        while pad < 2 and e + pad < len(text) and text[e + pad] == "=":
            pad += 1
        end = e + pad
        size = end - pos
        if (e - pos < R.B64_MIN or size > R.B64_MAX or size % 4
                or (end < len(text) and (text[end] in _B64_CH or text[end] == "="))):
            return None
        raw = base64.b64decode(text[pos:end])
        if not raw or any(b not in _PRINTABLE for b in raw):
            return None
        _NESTED.depth = 1
        try:
            inner = find_spans(raw.decode("ascii"))
        finally:
            _NESTED.depth = 0
        if not inner:
            return None
        return [(inner[0][0], pos, end)], end


class PemRule(Rule):
    """A PEM private-key block, up to its END line (or the end of the text)."""

    END = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----", re.ASCII)

    def apply(self, text: str, pos: int) -> Match | None:
        m = self.rx.match(text, pos)
        if m is None:
            return None
        e = self.END.search(text, m.end())
        end = len(text) if e is None else e.end()
        return [(self.tag, pos, end)], end


# ------------------------------------------------------------------ checks (validators)


def _check_ssn(m: re.Match[str], _text: str) -> bool:
    d = re.sub(r"[^0-9]", "", m.group("v"))
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _check_ssn_labelled(m: re.Match[str], _text: str) -> bool:
    d = re.sub(r"[^0-9]", "", m.group("v"))
    return d[:3] != "000" and d[3:5] != "00" and d[5:] != "0000"


def _check_mrn(m: re.Match[str], _text: str) -> bool:
    v = m.group("v")
    n = _digits(v)
    if n == len(v):
        return 4 <= n <= 12
    return n >= 4 and len(v) <= 20


def _check_patient_id(m: re.Match[str], _text: str) -> bool:
    v = m.group("v")
    return 3 <= len(v) <= 20 and _digits(v) > 0


def _check_insurance(m: re.Match[str], _text: str) -> bool:
    # A digit, or an all-capitals code (member ids are often letters only).
    v = m.group("v")
    return 4 <= len(v) <= 20 and (_digits(v) > 0 or not any("a" <= c <= "z" for c in v))


def _check_account(m: re.Match[str], _text: str) -> bool:
    return _digits(m.group("v")) >= 4


def _check_has_digit(m: re.Match[str], _text: str) -> bool:
    return _digits(m.group("v")) > 0


def _check_one_case(m: re.Match[str], _text: str) -> bool:
    v = m.group("v")
    return v.upper() == v or v.lower() == v


def _check_email(m: re.Match[str], _text: str) -> bool:
    tld = m.group("v").rsplit(".", 1)[1]
    return len(tld) >= 2 and tld.isalpha()


_ISO_DURATION: Final = re.compile(r"(?i:pt)(?:[0-9]+(?:\.[0-9]+)?[HMS])+", re.ASCII)


def _check_hostname(m: re.Match[str], _text: str) -> bool:
    # Needs a digit; mixed case is base64 (key fingerprints), PT30S is an ISO duration, and a
    # run of 16 or more hex digits is a key, hash or nonce ("bed4…" in a public key), never a
    # host someone named.
    v = m.group("v")
    upper = any("A" <= c <= "Z" for c in v)
    lower = any("a" <= c <= "z" for c in v)
    return (_digits(v) > 0 and not (upper and lower) and _ISO_DURATION.fullmatch(v) is None
            and _HEX_KEY.fullmatch(v) is None)


_HEX_KEY = re.compile(r"[0-9A-Fa-f]{16,}")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    for low, high in R.CARD_PREFIXES:
        head = digits[: len(low)]
        if low <= head <= high:
            return True
    return False


def _skip_seps_back(text: str, j: int) -> int:
    while j > 0 and text[j - 1] in "\t\n\x0b\x0c\r \"#'-:=":
        j -= 1
    return j


def _word_before(text: str, j: int, word: str) -> bool:
    """``text[:j]`` ends with ``word`` (ASCII, any case) not preceded by a letter or digit."""
    i = j - len(word)
    if i < 0:
        return False
    piece = text[i:j]
    if not piece.isascii() or piece.lower() != word:
        return False
    return i == 0 or not _is_alnum(text[i - 1])


def label_before(text: str, start: int, words: Sequence[str]) -> bool:
    """Whether the value at ``start`` is labelled with one of ``words`` (§3 "Labelled")."""
    j = _skip_seps_back(text, start)
    for w in ("no.", *R.LABEL_WORDS):
        if _word_before(text, j, w):
            j = _skip_seps_back(text, j - len(w))
            break
    return any(_word_before(text, j, w) for w in words)


def _check_cc(m: re.Match[str], text: str) -> bool:
    d = re.sub(r"[^0-9]", "", m.group("v"))
    if not (13 <= len(d) <= 19 and card_prefix_ok(d) and luhn_ok(d)):
        return False
    return not label_before(text, m.start("v"), R.CC_EXCEPTION_LABELS)


_CONTEXT: Final = re.compile(AL + "(?i:" + "|".join(R.CONTEXT_WORDS) + ")" + AR, re.ASCII)


def _check_ambiguous_state(m: re.Match[str], text: str) -> bool:
    if m.group("st") not in R.AMBIGUOUS_STATES:
        return True
    s = m.start()
    return text[max(0, s - 2) : s] == ", " or text[max(0, s - 1) : s] == ","


# ----------------------------------------------------------------------- patterns

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_LOCAL = _LETTERS + _DIGITS + "._%+-"


def _firsts(words: Sequence[str]) -> str:
    return "".join(sorted({c for w in words for c in (w[0].lower(), w[0].upper())}))


def _labelled(
    name: str,
    tag: str,
    words: Sequence[str],
    value: str,
    check: Callable[[re.Match[str], str], bool] | None = None,
) -> Rule:
    return Rule(name, tag, AL + labels(words) + LSEP + f"(?P<v>{value})", _firsts(words), check)


# Secret values: quoted (up to the closing quote or the line end) or a bare word.
_SECRET_VALUE: Final = r"(?:\"(?P<v>[^\"\r\n]+)|'(?P<v2>[^'\r\n]+)|(?P<v3>[^\s\"'(),;&][^\s\"',;&]*))"  # noqa: S105


class SecretRule(Rule):
    """Secret rules: the value is in one of three alternative groups (quoted or bare)."""

    def apply(self, text: str, pos: int) -> Match | None:
        m = self.rx.match(text, pos)
        if m is None:
            return None
        for g in ("v", "v2", "v3"):
            if m.start(g) >= 0:
                return [(self.tag, m.start(g), m.end(g))], m.end()
        return None  # pragma: no cover - one group always matched


class SecretCmdRule(Rule):
    """Passwords in commands and prose: ``sshpass -p VALUE``; ``net use … /user:NAME VALUE``
    (same line); ``password VALUE`` where the value holds a digit or a symbol (``hunter2``)."""

    SSHPASS = re.compile(r"[ \t]+-p[ \t]*" + _SECRET_VALUE, re.ASCII)
    USER_SWITCH = re.compile(r"/(?i:user|u):", re.ASCII)
    USER = re.compile(r"/(?i:user|u):[^\s]+[ \t]+(?![/*])" + _SECRET_VALUE, re.ASCII)
    BARE = re.compile(r"[ \t]+(?:(?i:is)[ \t]+)?(?P<v>[^\s\"'(),;&]{4,}+)", re.ASCII)
    SYMBOLS = frozenset("0123456789!@#$%^*?~+")

    def apply(self, text: str, pos: int) -> Match | None:
        m = self.rx.match(text, pos)
        if m is None:
            return None
        word = m.group(0)[0].lower()
        if word == "s":
            v = self.SSHPASS.match(text, m.end())
        elif word == "n":
            line_end = len(text)
            for stop in ("\r", "\n"):
                i = text.find(stop, m.end(), line_end)
                if i >= 0:
                    line_end = i
            user = self.USER_SWITCH.search(text, m.end(), line_end)
            v = None if user is None else self.USER.match(text, user.start())
        else:
            v = self.BARE.match(text, m.end())
            if v is not None and not self.SYMBOLS.intersection(v.group("v")):
                return None
        if v is None:
            return None
        for g in ("v", "v2", "v3"):
            if g in v.re.groupindex and v.start(g) >= 0:
                return [(self.tag, v.start(g), v.end(g))], v.end()
        return None  # pragma: no cover - one group always matched


# The keys of rules.PHI_KEYS as labels: "first_name" also matches firstName and First-Name.
_KEY_WORDS: Final = tuple(
    (re.compile("(?i:" + "".join("[ _-]?" if ch == "_" else re.escape(ch) for ch in key) + ")",
                re.ASCII), tag)
    for key, tag in R.PHI_KEYS.items()
)


class JsonKeyRule(Rule):
    """A quoted key that names a PHI or secret category (:data:`rules.PHI_KEYS`, as in
    structured egress) and its value: ``{"ssn":"123456789"}``, ``'first_name': 'Jane'``. The
    value (a quoted string, or a bare one other than null/true/false) is redacted whatever it
    looks like."""

    def apply(self, text: str, pos: int) -> Match | None:
        q = text[pos : pos + 1]
        if q not in ("\"", "'"):
            return None
        m = self.rx.match(text, pos + 1)
        if m is None or m.group("q") != q:
            return None
        key = m.group("k")
        tag = next((t for rx, t in _KEY_WORDS if rx.fullmatch(key)), None)
        if tag is None:
            return None
        for g in ("v", "v2", "v3"):
            if m.start(g) >= 0:
                if m.start(g) == m.end(g) or m.group(g) in ("null", "true", "false"):
                    return None
                return [(_tag(tag), m.start(g), m.end(g))], m.end()
        return None  # pragma: no cover - one group always matched


class MrnRule(Rule):
    """Labelled MRN, or the digits glued to the label (``MRN12345678``)."""

    GLUED = re.compile(AL + r"(?i:mrn)(?P<v>[0-9]{4,12})" + AR, re.ASCII)

    def apply(self, text: str, pos: int) -> Match | None:
        found = super().apply(text, pos)
        if found is not None:
            return found
        m = self.GLUED.match(text, pos)
        return None if m is None else ([(self.tag, m.start("v"), m.end("v"))], m.end())


_NAME_STOP: Final = "(?!(?i:(?:" + "|".join(R.NAME_STOP_WORDS) + ")(?![A-Za-z])))"
_NAME_WORD: Final = (_NAME_STOP + r"(?>[A-Z][a-z]*(?:(?:['-][A-Z]?|[A-Z])[a-z]+)*)(?<![A-Z])"
                     + AR)
# Title-Case words, a middle initial allowed between them (``Jane Q. Example``).
_NAME_VALUE: Final = _NAME_WORD + r"(?:[ ](?:[A-Z]\.[ ])?" + _NAME_WORD + r"){0,2}"
# After a strong label (``Patient:``, ``Name=``, ``Pt.``): words of any case, ``DOE, JANE``.
_ANY_WORD: Final = _NAME_STOP + r"(?>[A-Za-z]+(?:['-][A-Za-z]+)*)(?![A-Za-z0-9_])"
_ANY_NAME: Final = re.compile(
    _ANY_WORD + r"(?:(?:,[ ]*|[ ]+)(?:[A-Za-z]\.[ ]+)?" + _ANY_WORD + r"){0,2}", re.ASCII)
_STRONG_SEP: Final = re.compile(r"[ \t]*[:=][ \t]*", re.ASCII)
_PT_DOT_SEP: Final = re.compile(r"\.(?:[ \t]*[:=]|[ \t])[ \t]*", re.ASCII)
_NAME_REST: Final = re.compile(LSEP + "(" + _NAME_VALUE + ")", re.ASCII)


class NameRule(Rule):
    """A NAME label: after a strong separator (``:`` or ``=``; ``Pt.``) the value is words of any
    case (``Patient: DOE, JANE``); otherwise, after any label separator, Title-Case words."""

    def __init__(self, name: str, words: Sequence[str], context: bool) -> None:
        super().__init__(name, "NAME", AL + labels(words), _firsts(words))
        self.context = context

    def apply(self, text: str, pos: int) -> Match | None:
        m = self.rx.match(text, pos)
        if m is None:
            return None
        j = m.end()
        if self.context:
            c = _CONTEXT.search(text)
            if c is None or c.start() >= pos:
                return None
        sep = (_PT_DOT_SEP if j - pos == 2 and text[j : j + 1] == "." else _STRONG_SEP).match(text, j)
        if sep is not None:
            v = _ANY_NAME.match(text, sep.end())
            if v is not None:
                return [(self.tag, v.start(), v.end())], v.end()
        v = _NAME_REST.match(text, j)
        if v is None:
            return None
        return [(self.tag, v.start(1), v.end())], v.end()


_MONTHS: Final = "(?>(?i:" + "|".join(m + AR for m in R.MONTHS) + "))"
_DATE: Final = (
    r"(?:[0-9]{4}(?P<d1>[-/.])[0-9]{1,2}(?P=d1)[0-9]{1,2}"
    r"|[0-9]{1,2}(?P<d2>[-/.])[0-9]{1,2}(?P=d2)(?:[0-9]{4}|[0-9]{2})"
    r"|[0-9]{8}"
    rf"|{_MONTHS}\.?[ ]+[0-9]{{1,2}}(?:st|nd|rd|th)?(?:,[ ]*|[ ]+)[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ ]+{_MONTHS}\.?,?[ ]+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ ]+(?i:of)[ ]+{_MONTHS}\.?,?[ ]+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?P<d3>[-/]){_MONTHS}(?P=d3)(?:[0-9]{{4}}|[0-9]{{2}}))" + NR
)

_A: Final = "[AC-HJKMNP-RT-Yac-hjkmnp-rt-y]"  # MBI letters: no S, L, O, I, B, Z (one case)
_AN: Final = "[AC-HJKMNP-RT-Yac-hjkmnp-rt-y0-9]"
_STREET_WORD: Final = r"(?:[A-Z][a-z]+|[A-Z]+|[A-Z]\.|[0-9]{1,3}(?:st|nd|rd|th))[ ]+"
_SUFFIX: Final = "(?>(?i:" + "|".join(s + AR for s in R.STREET_SUFFIXES) + "))"
_UNIT: Final = (
    r"(?>(?:,?[ ]*(?:(?i:" + "|".join(R.UNIT_WORDS) + r")(?![A-Za-z])\.?[ ]*#?|#)[ ]*"
    r"[A-Za-z0-9]+)?)"
)
_PATH_CH: Final = r"[^\t\n\x0b\x0c\r /\\\":|<>*?]"
_ZIP_VALUE: Final = r"[0-9]{5}(?:-[0-9]{4})?" + NR

RULES: Final[tuple[Rule, ...]] = (
    Base64Rule("base64", "SECRET", "", _LETTERS + _DIGITS + "+/"),
    PemRule("pem", "SECRET", r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----", "-"),
    Rule("url_userinfo", "SECRET",
         r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}+://[^\s/:@]*+:(?P<v>[^\s/@]++)@",
         _LETTERS),
    Rule("authorization", "SECRET",
         r"(?i:authorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
         r"(?i:" + "|".join(R.AUTH_SCHEMES) + r")[ \t]+(?P<v>[A-Za-z0-9._~+/=-]++)",
         "aA"),
    SecretRule("ps_password", "SECRET", AL + r"-(?i:password)" + AR + r"[ \t]+" + _SECRET_VALUE,
               "-"),
    SecretRule("ps_securestring", "SECRET",
               r"(?i:convertto-securestring)(?:[ \t]+(?i:-string))?[ \t]+" + _SECRET_VALUE, "cC"),
    SecretRule("secret_kv", "SECRET",
               "(?>(?i:" + "|".join(_label(w).removesuffix(AR) for w in R.SECRET_LABELS) + "))"
               r"[\"']?[ \t]*[=:][ \t]*" + _SECRET_VALUE,
               _firsts(R.SECRET_LABELS)),
    SecretCmdRule("secret_cmd", "SECRET", AL + r"(?i:sshpass|net[ _-]?use|password)" + AR, "snpSNP"),
    JsonKeyRule("json_key", "SECRET",
                r"(?P<k>[A-Za-z0-9_ -]{1,64}+)(?P<q>[\"'])[ \t]*:[ \t]*"
                r"(?:\"(?P<v>(?:[^\"\\\r\n]|\\.)*+)\"|'(?P<v2>(?:[^'\\\r\n]|\\.)*+)'"
                r"|(?P<v3>[^\s,;}\]\"'{\[]++))",
                "\"'"),
    HL7Rule("hl7_pid", "MRN", "", "pPnNgGiI\\"),
    Rule("path", "PATH",
         r"(?<=[/\\])(?>(?i:"
         + "|".join(_label(d).removesuffix(AR) + r"(?=[/\\])" for d in R.CLINICAL_DIRS)
         + r"))[/\\]++(?P<v>" + _PATH_CH + r"++(?:[ ]" + _PATH_CH + r"++)*+(?=[/\\])|"
         + _PATH_CH + r"++)",
         _firsts(R.CLINICAL_DIRS)),
    Rule("fhir", "PATIENT-ID",
         r"(?<![A-Za-z0-9/\\])(?i:patient)/(?P<v>[A-Za-z0-9-]{1,64}+)" + AR, "pP", _check_has_digit),
    _labelled("ssn_labelled", "SSN", R.SSN_LABELS,
              r"[0-9]{3}(?P<s>[ ]-[ ]|[- .]?)[0-9]{2}(?P=s)[0-9]{4}" + NR, _check_ssn_labelled),
    MrnRule("mrn", "MRN", AL + labels(R.MRN_LABELS) + LSEP + r"(?P<v>[A-Za-z0-9]++)",
            _firsts(R.MRN_LABELS), _check_mrn),
    _labelled("patient_id", "PATIENT-ID", R.PATIENT_ID_LABELS, r"[A-Za-z0-9-]++",
              _check_patient_id),
    _labelled("account", "ACCOUNT", R.ACCOUNT_LABELS, r"[0-9]++(?:-[0-9]++)*+" + AR,
              _check_account),
    _labelled("insurance", "INSURANCE", R.INSURANCE_LABELS, r"[A-Za-z0-9-]++",
              _check_insurance),
    _labelled("dob", "DOB", R.DOB_LABELS, _DATE),
    _labelled("phone_labelled", "PHONE", R.PHONE_LABELS,
              r"(?:(?:\+?1)?[0-9]{10}|(?:\+?1[-. ])?(?:\([0-9]{3}\)[ ]?|[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4})"
              + NR),
    _labelled("zip_labelled", "ZIP", R.ZIP_LABELS, _ZIP_VALUE),
    Rule("zip_state", "ZIP",
         AL + "(?P<st>" + "|".join(R.US_STATES) + ")[ ]+(?P<v>" + _ZIP_VALUE + ")",
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ", _check_ambiguous_state),
    Rule("email", "EMAIL",
         r"(?<![A-Za-z0-9._%+-])(?P<v>[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++)",
         _LOCAL, _check_email),
    Rule("medicare", "MEDICARE",
         AL + rf"(?P<v>[1-9]{_A}{_AN}[0-9](?P<m>-?){_A}{_AN}[0-9](?P=m){_A}{_A}[0-9]{{2}})"
         + AR, "123456789", _check_one_case),
    Rule("ssn", "SSN", NL + r"(?P<v>[0-9]{3}(?P<s>[ ]-[ ]|[- .])[0-9]{2}(?P=s)[0-9]{4})" + NR, _DIGITS,
         _check_ssn),
    Rule("cc", "CC",
         NL + r"(?P<v>[0-9]{4}(?P<g>[ .-])[0-9]{3,6}(?:(?P=g)[0-9]{3,6}){1,3}|[0-9]{13,19})"
         + NR, _DIGITS, _check_cc),
    Rule("phone", "PHONE",
         NL + r"(?P<v>(?:\+?1[-. ])?(?:\([2-9][0-9]{2}\)[ ]?[2-9][0-9]{2}[-. ]"
         r"|[2-9][0-9]{2}(?P<p>[-. ])[2-9][0-9]{2}(?P=p))[0-9]{4}"
         r"|\+1[2-9][0-9]{2}[2-9][0-9]{6})" + NR,
         _DIGITS + "(+"),
    Rule("zip4", "ZIP", NL + r"(?P<v>[0-9]{5}-[0-9]{4})" + NR, _DIGITS),
    Rule("address", "ADDRESS",
         NL + r"(?P<v>[0-9]{1,6}[ ]+(?:" + _STREET_WORD + "){1,4}" + _SUFFIX + r"\.?" + _UNIT
         + ")",
         _DIGITS),
    Rule("po_box", "ADDRESS",
         AL + r"(?P<v>(?i:p\.?[ ]?o\.?[ ]*box)[ ]*#?[ ]*[0-9]{1,6})" + AR, "pP"),
    Rule("hostname", "HOSTNAME",
         r"(?<![A-Za-z0-9_.-])(?P<v>(?i:" + "|".join(R.HOSTNAME_PREFIXES) + r")[-_0-9]"
         r"(?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)",
         _firsts(R.HOSTNAME_PREFIXES), _check_hostname),
    NameRule("name_labelled", R.NAME_LABELS, context=False),
    NameRule("name_context", (R.NAME_CONTEXT_LABEL,), context=True),
    Rule("name_title", "NAME",
         AL + "(?>" + "|".join(t + AR for t in R.TITLES) + r")\.?[ ]+(?P<v>" + _NAME_VALUE + ")",
         "DM"),
)  # fmt: skip

# ------------------------------------------------------------------ candidate search
#
# Trying every rule at every position would be slow in Python. Two regexes find, in C, the
# positions where some rule *may* match: each entry below is a necessary condition for the
# rules named next to it (what any match of those rules starts with). The rules are tried at
# those positions only, so the result is the one of the scan described at the top.
#
# * _AFTER_BOUNDARY: all rules but four need a character that is not a letter or digit before
#   their start (AL, NL and the other look-behinds). The pattern consumes that character, and
#   ``re`` searches for a pattern that starts with a character class by testing that class
#   only: letters and digits inside words are skipped at C speed. The candidate is the position
#   after the boundary character; the start of the text is checked with _AT_START.
# * _ANYWHERE: the four rules that may start inside a word (``-----BEGIN``, ``db_password=``).
#
# Speed: ``re`` tries the alternatives of an alternation one by one, but skips one at once when
# its first character is a plain character or class that does not match; it has no such
# shortcut for ``(?i:…)`` or a look-around. So every entry starts with a plain character or
# class, and word lists are written as tries of ``[Xx]`` classes (:func:`_trie`).
#
# Each _AFTER_BOUNDARY entry ends with an empty group, so ``lastindex`` tells the first entry
# whose condition holds at the candidate: the rules that only earlier entries stand for cannot
# match there and are not tried.

_Node = dict[str, "_Node"]


def _trie(words: Sequence[str], *, bounded: bool = True) -> str:
    """Case-insensitive ``words`` (label syntax, see :func:`_label`) as an alternation in trie
    form: ``("pt", "patient")`` gives ``P(?:[Tt]|[Aa][Tt][Ii][Ee][Nn][Tt])|p(?:…)``. Where it
    matches, ``labels(words)`` matches too (any one of the words), and the other way round; a
    mismatch costs one class test per character.

    The top level has one alternative per first character *and case*, so that a pattern that
    starts with the trie is searched for its first characters at C speed. ``bounded``: a word
    that ends with a letter or digit must not be followed by one (as in :func:`_label`).
    """
    root: _Node = {}
    for w in words:
        node = root
        for ch in w:
            if ch == " ":
                tok = "[ _-]?"
            elif ch.isalpha():
                tok = f"[{ch.upper()}{ch.lower()}]"
            else:
                tok = re.escape(ch)
            node = node.setdefault(tok, {})
        node[AR if bounded and w[-1].isalnum() else ""] = {}  # the word ends here

    def alternation(node: _Node) -> str:
        alts = [tok + alternation(child) for tok, child in node.items()]
        return "".join(alts) if len(alts) <= 1 else "(?:" + "|".join(alts) + ")"

    top = []
    for tok, child in root.items():
        for first in sorted({tok[1], tok[2]}) if tok.startswith("[") else [tok]:
            top.append(first + alternation(child))
    return "|".join(top)


_LABELLED_WORDS: Final = (
    *R.SSN_LABELS, *R.MRN_LABELS, *R.PATIENT_ID_LABELS, *R.ACCOUNT_LABELS,
    *R.INSURANCE_LABELS, *R.DOB_LABELS, *R.PHONE_LABELS, *R.ZIP_LABELS, *R.NAME_LABELS,
    R.NAME_CONTEXT_LABEL,
)  # fmt: skip

# (rules, necessary condition at their start), in the order ``re`` tries them. The frequent
# ones come last, so that the rules tried after them are few.
_AFTER_BOUNDARY_ENTRIES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("base64",), f"[A-Za-z0-9+/]{{{R.B64_MIN}}}"),
    (("ps_password",), "-(?i:password)" + AR),
    (("secret_cmd",), "(?:" + _trie(("sshpass", "net use", "password")) + ")"),
    (("hl7_pid",), "(?:" + _trie(tuple(R.HL7_SEGMENTS), bounded=False) + ")" + _SEP_CH),
    (("path", "fhir"), "(?:" + _trie(R.CLINICAL_DIRS, bounded=False) + r")[/\\]"),
    (("zip_state",), "[A-Z]{2}[ ]+[0-9]"),
    (("email",), r"[A-Za-z0-9._%+-]{1,64}+@"),
    (("medicare",), "[1-9]" + _A + _AN + "[0-9]"),
    (("po_box",), r"[Pp]\.?[ ]?[Oo]\.?[ ]*[Bb][Oo][Xx]"),
    (("mrn",), "[Mm][Rr][Nn][0-9]"),
    (("name_labelled",), r"[Pp][Tt]\."),
    (("name_labelled", "name_context"),
     "(?:" + _trie((*R.NAME_LABELS, R.NAME_CONTEXT_LABEL)) + r")[ \t]*[:=][ \t]*[A-Za-z]"),
    (("phone",), r"\+1[-. ]?[(2-9]|\([2-9][0-9]{2}\)"),
    (("hostname",), "(?:" + _trie(R.HOSTNAME_PREFIXES, bounded=False) + ")[-_0-9]"),
    (("name_title",), "(?:" + "|".join(R.TITLES) + r")\.?[ ]+[A-Z]"),
    (("url_userinfo",), r"[A-Za-z][A-Za-z0-9+.-]{0,31}+://[^\s/:@]*+:[^\s/@]++@"),
    (
        ("ssn_labelled", "mrn", "patient_id", "account", "insurance", "dob", "phone_labelled",
         "zip_labelled", "name_labelled", "name_context"),
        # A value never starts with a separator: LSEP (atomic) takes them all.
        "(?:" + _trie(_LABELLED_WORDS) + ")" + LSEP + "[A-Za-z0-9+(]",
    ),
    (
        ("ssn", "cc", "phone", "zip4", "address"),
        # NL, then by what follows the first digit
        r"[0-9](?<![0-9][.-][0-9])(?:"
        r"[0-9]{2}[- .]"  # ssn
        r"|[0-9]{3}[ .-][0-9]{3}|[0-9]{12}"  # cc
        r"|(?<=1)[-. ][(2-9]|[0-9]{2}[-. ][2-9][0-9]{2}[-. ][0-9]{4}"  # phone
        r"|[0-9]{4}-[0-9]{4}"  # zip4
        r"|[0-9]{0,5}[ ]+(?:" + _STREET_WORD + "){1,4}" + _SUFFIX  # address
        + ")",
    ),
)  # fmt: skip
_ANYWHERE_ENTRIES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("json_key",), "[\"'](?:" + _trie(R.PHI_KEY_WORDS, bounded=False) + ")"),
    (("hl7_pid",), r"\\[rn](?:" + _trie(tuple(R.HL7_SEGMENTS), bounded=False) + ")" + _SEP_CH),
    (("pem",), "-(?=----BEGIN)"),
    (
        ("authorization", "ps_securestring", "secret_kv"),
        _trie(("authorization", "convertto-securestring", *R.SECRET_LABELS), bounded=False),
    ),
)

_ENTRIES: Final = "|".join(f"(?:{cond})()" for _, cond in _AFTER_BOUNDARY_ENTRIES)
_AFTER_BOUNDARY: Final = re.compile("[^A-Za-z0-9](?:" + _ENTRIES + ")", re.ASCII)
_AT_START: Final = re.compile(_ENTRIES, re.ASCII)
_ANYWHERE: Final = re.compile("|".join(cond for _, cond in _ANYWHERE_ENTRIES), re.ASCII)

ByChar = dict[str, tuple[Rule, ...]]


def _by_char(names: set[str]) -> ByChar:
    """The rules named, in :data:`RULES` order, by the characters they can start with."""
    chosen = [r for r in RULES if r.name in names]
    return {c: tuple(r for r in chosen if c in r.first) for r in chosen for c in r.first}


# The rules to try where _AFTER_BOUNDARY matched with group k, which ends the k-th entry: those
# of that entry and of the later ones.
_TRY_AFTER_BOUNDARY: Final[list[ByChar]] = [{}] + [
    _by_char({name for names, _ in _AFTER_BOUNDARY_ENTRIES[k:] for name in names})
    for k in range(len(_AFTER_BOUNDARY_ENTRIES))
]
_TRY_ANYWHERE: Final = _by_char({name for names, _ in _ANYWHERE_ENTRIES for name in names})
_TRY_ALL: Final = _by_char({r.name for r in RULES})


def find_spans(text: str) -> list[Span]:
    """All spans of ``text`` as ``(tag index, start, end)``, in order, non-overlapping."""
    spans: list[Span] = []
    after_boundary = _AFTER_BOUNDARY.search
    anywhere = _ANYWHERE.search
    try_after_boundary = _TRY_AFTER_BOUNDARY
    none = len(text) + 1  # no candidate left
    # The next candidate of each search, at or after ``pos`` (searched again once passed),
    # and for _AFTER_BOUNDARY the group of the entry that matched.
    m = _AT_START.match(text)
    nb, group = (-1, 0) if m is None else (0, m.lastindex or 0)
    na = -1
    pos = 0
    while True:
        if nb < pos:
            m = after_boundary(text, pos - 1 if pos else 0)
            nb, group = (none, 0) if m is None else (m.start() + 1, m.lastindex or 0)
        if na < pos:
            m = anywhere(text, pos)
            na = none if m is None else m.start()
        if nb < na:
            p, rules = nb, try_after_boundary[group]
        elif na < nb:
            p, rules = na, _TRY_ANYWHERE
        elif nb == none:
            return spans
        else:  # both: any rule may start here
            p, rules = nb, _TRY_ALL
        for rule in rules.get(text[p], ()):
            found = rule.apply(text, p)
            if found is not None:
                spans.extend(found[0])
                pos = found[1]
                break
        else:
            pos = p + 1
