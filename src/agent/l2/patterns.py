"""Destructive-command patterns (healing.md §5.5): defence in depth over L2 action text.

Scripts from L2 are never executed; this check only refuses plans that *name* destructive work and
feeds telemetry and logs. Matching is case-insensitive, on the raw text and on a normalised copy
(whitespace collapsed, PowerShell backtick and cmd ``^`` escapes removed, quotes around single
tokens removed), and on base64 payloads of ``-EncodedCommand``/``-enc``/``-e`` and
``FromBase64String(...)`` decoded as UTF-16LE or UTF-8 (recursively, a few levels deep).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Callable, Iterable
from typing import Final

_I = re.IGNORECASE | re.DOTALL
_SEP = r"[^;|&\n]*"  # within one simple command

Check = Callable[[str], bool]


def _rx(*patterns: str) -> Check:
    compiled = [re.compile(p, _I) for p in patterns]
    return lambda text: any(c.search(text) for c in compiled)


def _all(*patterns: str) -> Check:
    compiled = [re.compile(p, _I) for p in patterns]
    return lambda text: all(c.search(text) for c in compiled)


def _any(*checks: Check) -> Check:
    return lambda text: any(c(text) for c in checks)


_RM = re.compile(r"(?:^|[\s;|&(`$])rm\s+([^;|&\n]*)", _I)


def _rm_recursive_force(text: str) -> bool:
    """``rm`` with recursive and force flags in any spelling (``-rf``, ``-fr``, ``-r -f``,
    ``--recursive --force``, ``-R``)."""
    for m in _RM.finditer(text):
        recursive = force = False
        for tok in m.group(1).split():
            if tok == "--":
                break
            if tok.startswith("--"):
                recursive |= tok.lower() == "--recursive"
                force |= tok.lower() == "--force"
            elif tok.startswith("-") and len(tok) > 1:
                recursive |= "r" in tok.lower()
                force |= "f" in tok
        if recursive and force:
            return True
    return False


_BLOCK_DEV = r"/dev/(?:sd[a-z]|nvme\d|mmcblk\d|hd[a-z]|vd[a-z]|xvd[a-z]|disk\d)"
_DRIVE_ROOT = r"\b[a-z]:\\?(?=[\s\"']|$)"

CATEGORIES: Final[tuple[tuple[str, Check], ...]] = (
    ("filesystem_destruction", _any(
        _rm_recursive_force,
        _rx(r"\bfind\s+/" + _SEP + r"\s-delete\b",
            r"\bmkfs(?:\.\w+)?\b", r"\b(?:s?fdisk|parted|wipefs|shred|diskpart)\b",
            r"\bdd\b" + _SEP + r"\bof=" + _BLOCK_DEV,
            r"\bdd\b" + _SEP + r"\bif=/dev/(?:zero|u?random)\b",
            r">\s*" + _BLOCK_DEV,
            r"\b(?:format-volume|clear-disk|remove-partition|initialize-disk)\b",
            r"\bformat(?:\.com)?\s+[a-z]:",
            r"\bcipher(?:\.exe)?\s+/w\b",
            r"\b(?:del|erase|rd|rmdir)\b" + _SEP + r"/s\b" + _SEP + _DRIVE_ROOT),
        _all(r"\b(?:remove-item|ri|rm|del|erase|rmdir)\b" + _SEP + r"-recurse",
             r"(?:" + _DRIVE_ROOT + r"|\b[a-z]:\\windows\b)"),
    )),
    ("backup_destruction", _rx(
        r"\bvssadmin(?:\.exe)?\s+delete\s+shadows\b", r"\bwmic(?:\.exe)?\s+shadowcopy\s+delete\b",
        r"win32_shadowcopy.*remove-ciminstance",
        r"\bwbadmin(?:\.exe)?\s+delete\s+(?:catalog|backup|systemstatebackup)\b",
        r"\bbcdedit\b.*\brecoveryenabled\s+no\b", r"\btmutil\s+delete\b",
        r"\brestic\b.*\bforget\b.*--prune\b", r"\bborg\s+delete\b")),
    ("permission_destruction", _rx(
        r"\bchmod\s+(?:-\w+\s+)*0?777\s+/(?:\s|$|\*)",
        r"\bchmod\s+(?:-\w*\s+)*-\w*R\w*\s+(?:-\w+\s+)*0?777\b",
        r"\bchmod\s+(?:-\w+\s+)*--recursive\s+(?:-\w+\s+)*0?777\b",
        r"\bchown\s+(?:-\w*\s+)*(?:-\w*R\w*|--recursive)\s+" + _SEP + r"\s/(?:\s|$|\*)",
        r"\bicacls(?:\.exe)?\s+[a-z]:\\?\s" + _SEP + r"everyone:\(?(?:\(oi\)|\(ci\))*f\b",
        r"\btakeown(?:\.exe)?\b" + _SEP + r"/r\b")),
    ("download_execute", _any(
        _rx(r"\b(?:curl|wget|fetch)\b[^;\n]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b",
            r"\b(?:curl|wget|fetch)\b[^;\n]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl)\b",
            r"\bcertutil(?:\.exe)?\b.*-urlcache\b", r"\bbitsadmin(?:\.exe)?\b.*/transfer\b",
            r"\bmshta(?:\.exe)?\s+https?:", r"\bregsvr32(?:\.exe)?\b.*/i:\s*https?:"),
        _all(r"\b(?:iex|invoke-expression)\b",
             r"(?:downloadstring|downloadfile|invoke-webrequest|\biwr\b|net\.webclient|invoke-restmethod|\birm\b)"),
    )),
    ("reverse_shell", _any(
        _rx(r"\b(?:nc|ncat|netcat)\b" + _SEP + r"\s-\w*[ec]\b", r"/dev/(?:tcp|udp)/",
            r"\bbash\s+-i\b.*>&", r"\bsocat\b.*\bexec:",
            r"\bpython[0-9.]*\s+-c\b.*socket.*(?:pty|subprocess)"),
        _all(r"net\.sockets\.tcpclient", r"getstream"),
    )),
    ("credential_access", _rx(
        r"/etc/(?:g?shadow)\b", r"\bid_(?:rsa|dsa|ecdsa|ed25519)\b",
        r"(?:>>?|\btee\b" + _SEP + r")\s*\S*authorized_keys\b",
        r"\bmimikatz\b", r"\bsekurlsa\b", r"\bprocdump(?:64)?(?:\.exe)?\b.*\blsass\b",
        r"\bcomsvcs(?:\.dll)?\b.*\bminidump\b", r"\breg(?:\.exe)?\s+save\s+hklm\\(?:sam|security|system)\b",
        r"\bntds\.dit\b", r"\bapi[ _-]?key\b", r"(?:^|[\s/\\\"'=])\.env\b")),
    ("security_tampering", _rx(
        r"\bset-mppreference\b.*-disable\w*\s+(?:\$?true|1)\b", r"\badd-mppreference\b.*-exclusion",
        r"\bnetsh(?:\.exe)?\s+advfirewall\s+set\b.*\bstate\s+off\b",
        r"\bset-netfirewallprofile\b.*-enabled\s+(?:\$?false|0)\b", r"\bufw\s+disable\b",
        r"\bsystemctl\s+(?:stop|disable|mask)\b" + _SEP + r"\b(?:auditd|firewalld|apparmor)\b",
        r"\bsetenforce\s+0\b", r"\bauditpol(?:\.exe)?\b.*\s/clear\b",
        r"\bauditpol(?:\.exe)?\b.*/(?:success|failure):disable\b",
        r"\bwevtutil(?:\.exe)?\s+(?:cl|clear-log)\b",
        r"\bclear-eventlog\b", r"\bjournalctl\b.*--vacuum-(?:time|size|files)\b", r"\bcsrutil\s+disable\b",
        r"\bspctl\s+--master-disable\b")),
    ("account_manipulation", _rx(
        r"\bnet(?:\.exe)?\s+user\b" + _SEP + r"\s/add\b",
        r"\bnet(?:\.exe)?\s+localgroup\s+administrators\b" + _SEP + r"/add\b",
        r"\badd-localgroupmember\b.*-group\s+[\"']?administrators\b",
        r"\buseradd\b" + _SEP + r"-u\s*0\b", r"\busermod\b" + _SEP + r"-\w*g\s*\S*\b(?:sudo|wheel)\b",
        r"\bpasswd\s+-d\b", r"/etc/sudoers\b", r"\bvisudo\b")),
    ("system_state", _rx(
        r"\b(?:shutdown|reboot|halt|poweroff)\b", r"\binit\s+[06]\b", r"\b(?:stop|restart)-computer\b",
        r"\bkill\s+-(?:9|kill|sigkill)\s+-1\b", r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:")),
    ("database_destruction", _rx(
        r"\bdrop\s+(?:table|database|schema)\b", r"\bdelete\s+from\b", r"\btruncate\b")),
    ("obfuscation", _any(
        _all(r"frombase64string", r"\b(?:iex|invoke-expression)\b"),
        _all(r"\[char(?:\[\])?\]", r"(?:-join|\bjoin\()", r"(?:\biex\b|invoke-expression|&\s*\()"),
    )),
)

_ENC = re.compile(r"(?:^|\s)[-/](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc\w*|encodedcommand)\s+"
                  r"[\"']?([A-Za-z0-9+/=]{8,})", re.IGNORECASE)
_B64FN = re.compile(r"frombase64string\s*\(\s*[\"']([A-Za-z0-9+/=]{8,})[\"']\s*\)", re.IGNORECASE)
_QUOTED_TOKEN = re.compile(r"([\"'])([^\s\"']+)\1")
MAX_DEPTH: Final = 3


def normalise(text: str) -> str:
    """Whitespace collapsed; backtick and ``^`` escapes removed; quotes around single tokens removed."""
    t = text.replace("`", "").replace("^", "")
    t = _QUOTED_TOKEN.sub(r"\2", t)
    return " ".join(t.split())


def _decode(payload: str) -> list[str]:
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        return []
    out = []
    if len(raw) >= 2 and len(raw) % 2 == 0 and raw[1::2].count(0) >= len(raw) // 4:
        with contextlib.suppress(UnicodeDecodeError):
            out.append(raw.decode("utf-16-le"))
    with contextlib.suppress(UnicodeDecodeError):
        out.append(raw.decode("utf-8"))
    return out


def _encoded_payloads(text: str) -> list[str]:
    return [m.group(1) for rx in (_ENC, _B64FN) for m in rx.finditer(text)]


def _variants(text: str, depth: int = 0) -> Iterable[tuple[str, int]]:
    yield text, depth
    norm = normalise(text)
    if norm != text:
        yield norm, depth
    if depth >= MAX_DEPTH:
        return
    seen: set[str] = set()
    for source in (text, norm):
        for payload in _encoded_payloads(source):
            for decoded in _decode(payload):
                if decoded not in seen:
                    seen.add(decoded)
                    yield from _variants(decoded, depth + 1)


def dangerous_category(text: str) -> str | None:
    """The first category (table order) whose patterns match ``text`` or a decoded/normalised
    variant of it; ``None`` if none does."""
    if not text:
        return None
    variants = list(_variants(text))
    for name, check in CATEGORIES:
        if any(check(v) for v, _ in variants):
            return name
    if any(depth >= 1 and _encoded_payloads(v) for v, depth in variants):
        return "obfuscation"  # an encoded command that itself carries an encoded command
    return None
