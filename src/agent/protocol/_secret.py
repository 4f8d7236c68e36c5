"""``__repr__`` helper for Structs that carry secrets (passwords, keys, API keys).

Such objects must be safe to ``repr()`` into a log line or a traceback: the secret fields show as
``'***'`` (or ``''``/``None`` when unset), every other field as usual.
"""

from __future__ import annotations

from typing import Any

MASK = "***"


def masked_repr(obj: Any, secret_fields: frozenset[str]) -> str:
    """``Type(field=value, ...)`` with the values of ``secret_fields`` replaced by ``***``."""
    parts = []
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        if name in secret_fields and value:
            parts.append(f"{name}={MASK!r}")
        else:
            parts.append(f"{name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"
