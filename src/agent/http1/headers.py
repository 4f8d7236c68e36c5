"""Response headers as received: a read-only, case-insensitive mapping that keeps repeats."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class Headers(Mapping[str, str]):
    """``headers["Retry-After"]`` is the first value of that name, any case; :meth:`getall` all."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(name)

    def getall(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self._items if k == key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._items))

    def __len__(self) -> int:
        return len({k for k, _ in self._items})

    def raw(self) -> tuple[tuple[str, str], ...]:
        """Every (lower-case name, value) pair in the order received."""
        return self._items

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"
