"""Value semantics of the L1 condition language (healing.md §1.2–1.4).

These functions reproduce the Go daemon's matching exactly: ``is_numeric``, ``values_equal``,
``go_text`` (Go's ``%v`` rendering) and dotted field lookup. A boolean is never a number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

_NUMBER: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_SPECIAL: Final = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"})


class _Missing:
    """Sentinel for a missing field (absent key, non-map intermediate, or JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def is_numeric(value: object) -> tuple[bool, float]:
    """healing.md §1.4 ``is_numeric``: ``(True, float)`` for numbers and numeric strings."""
    if isinstance(value, bool):
        return False, 0.0
    if isinstance(value, int | float):
        return True, float(value)
    if isinstance(value, str) and (_NUMBER.fullmatch(value) or value.lower() in _SPECIAL):
        try:
            return True, float(value)
        except (ValueError, OverflowError):
            return False, 0.0
    return False, 0.0


def _go_float(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign, digit_tuple, exp = Decimal(repr(f)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0") or "0"
    if digits == "0":
        return "-0" if sign else "0"
    # Position exponent relative to the original digit string, then strip trailing zeros.
    n_orig = len("".join(map(str, digit_tuple)).lstrip("0"))
    dexp = exp + n_orig - 1  # decimal exponent of the first significant digit
    digits = digits.rstrip("0") or "0"
    neg = "-" if sign else ""
    if -4 <= dexp < 21:
        if dexp >= 0:
            if len(digits) <= dexp + 1:
                return neg + digits + "0" * (dexp + 1 - len(digits))
            return neg + digits[: dexp + 1] + "." + digits[dexp + 1 :]
        return neg + "0." + "0" * (-dexp - 1) + digits
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    esign = "+" if dexp >= 0 else "-"
    return f"{neg}{mant}e{esign}{abs(dexp):02d}"


def go_text(value: object) -> str:
    """Render ``value`` as Go's ``%v`` does (healing.md §1.4)."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{k}:{go_text(v)}" for k, v in items) + "]"
    return str(value)


def values_equal(a: object, b: object) -> bool:
    """healing.md §1.4 ``values_equal``."""
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    na, fa = is_numeric(a)
    nb, fb = is_numeric(b)
    if na and nb:
        return fa == fb  # NaN equals nothing
    return go_text(a) == go_text(b)


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """Dotted-path lookup; returns :data:`MISSING` for absent keys, non-map parents and null."""
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return MISSING
        cur = cur[part]
    return MISSING if cur is None else cur
