"""The packaged runbook registry: one directory per runbook under ``data/`` with
``runbook.yaml`` and one script per phase (``detect``/``remediate``/``verify`` + ``.sh``/``.ps1``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from agent.log import get_logger
from agent.rules.yaml12 import load_yaml12
from agent.runbooks.model import Runbook, RunbookError, build_runbook

DATA_DIR = Path(__file__).resolve().parent / "data"
log = get_logger("runbooks")


def runbook_dirs(directory: Path = DATA_DIR) -> list[Path]:
    """The runbook directories under ``directory``, sorted."""
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def load_runbook(d: Path) -> Runbook:
    """One runbook directory (``runbook.yaml`` + phase scripts); raises :class:`RunbookError`
    (or OSError / a YAML error for an unreadable file)."""
    meta = load_yaml12((d / "runbook.yaml").read_bytes())
    if not isinstance(meta, dict):
        raise RunbookError(f"{d.name}: runbook.yaml is not a map")
    ext = ".ps1" if meta.get("platform") == "windows" else ".sh"
    scripts = {
        ph: (d / f"{ph}{ext}").read_text("utf-8")
        for ph in ("detect", "remediate", "verify")
        if (d / f"{ph}{ext}").is_file()
    }
    rb = build_runbook(meta, scripts)
    if rb.id != d.name:
        raise RunbookError(f"{d.name}: id {rb.id} does not match its directory")
    return rb


class RunbookRegistry:
    """Implements :class:`agent.rules.model.RunbookLookup` and the orders ``RunbookRegistry``."""

    def __init__(self, runbooks: dict[str, Runbook], refused: dict[str, str] | None = None) -> None:
        self._runbooks = runbooks
        #: Runbook directory -> why it was refused at load (the others load).
        self.refused = dict(refused or {})

    @classmethod
    def load(cls, directory: Path = DATA_DIR) -> RunbookRegistry:
        """Every valid runbook under ``directory``; a bad one is refused alone (logged, in
        :attr:`refused`)."""
        out: dict[str, Runbook] = {}
        refused: dict[str, str] = {}
        for d in runbook_dirs(directory):
            try:
                rb = load_runbook(d)
            except (RunbookError, OSError, ValueError, yaml.YAMLError) as exc:
                refused[d.name] = str(exc)[:500]
                log.error("runbook.refused", "runbook refused at load", runbook=d.name,
                          error=str(exc)[:500])
                continue
            out[rb.id] = rb
        return cls(out, refused)

    def get(self, runbook_id: str) -> Runbook | None:
        return self._runbooks.get(runbook_id)

    def platform_of(self, runbook_id: str) -> str | None:
        rb = self._runbooks.get(runbook_id)
        return rb.platform if rb else None

    def __iter__(self) -> Iterator[Runbook]:
        return iter(self._runbooks.values())

    def __len__(self) -> int:
        return len(self._runbooks)


_DEFAULT: RunbookRegistry | None = None


def default_registry() -> RunbookRegistry:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = RunbookRegistry.load()
    return _DEFAULT
