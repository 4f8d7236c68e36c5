"""Test doubles: an in-memory report sink and a fake clock."""

from __future__ import annotations

from typing import Any


class MemorySink:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        self.items.append((kind, payload))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.items]
