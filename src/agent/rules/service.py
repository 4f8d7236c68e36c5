"""The rule service: the live :class:`~agent.rules.RuleEngine`, reloaded from every source of
healing.md §1.7, and rule sync (``GET /agent/sync``: a signed bundle, verified against the trusted
server keys, stored, then loaded). Built by the composition root; the scan reads the engine (is a
finding actionable?), healing matches and claims through it, the ``sync_rules`` order runs
:meth:`RuleService.sync`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agent.log import get_logger
from agent.rules.engine import RuleEngine
from agent.rules.loader import load_all, store_bundle
from agent.rules.model import CheckCatalog, Rule, RunbookLookup
from agent.uplink import Uplink, routes

log = get_logger("rules")


class RuleSyncError(Exception):
    """The rule bundle could not be fetched or was rejected (nothing was stored)."""


class RuleService:
    def __init__(self, state_dir: Path, *, builtin: Sequence[Mapping[str, Any]],
                 runbooks: RunbookLookup, catalog: CheckCatalog | None,
                 trusted_keys: Callable[[], list[str]], require_signed: Callable[[], bool],
                 uplink: Uplink | None, site_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.state_dir = Path(state_dir)
        self._builtin = builtin
        self._runbooks = runbooks
        self._catalog = catalog
        self._trusted_keys = trusted_keys
        self._require_signed = require_signed
        self._uplink = uplink
        self._site_id = site_id
        self.engine = RuleEngine(self._load(), clock=clock)  # the root's wall clock
        self.syncs = 0

    def _load(self) -> list[Rule]:
        rules, report = load_all(self.state_dir, builtin=self._builtin, runbooks=self._runbooks,
                                 catalog=self._catalog, trusted_keys=self._trusted_keys(),
                                 require_signed=self._require_signed())
        if report.errors:
            log.warning("rules.load_errors", "some rules were rejected", count=len(report.errors))
        return rules

    def reload(self) -> None:
        """Load every source again and swap the engine's rules (cooldowns are kept)."""
        self.engine.swap(self._load())

    async def sync(self) -> None:
        """Fetch, verify and store the site's signed rule bundle, then reload."""
        if self._uplink is None:
            raise RuleSyncError("rule sync has no connection to Central Command")
        resp = await self._uplink.send(routes.RULES, None,
                                       path=f"{routes.RULES.path}?site_id={quote(self._site_id)}")
        if resp.status != 200:
            raise RuleSyncError(f"rule sync failed: HTTP {resp.status}")
        try:
            bundle = json.loads(resp.body)
            store_bundle(self.state_dir, bundle, self._trusted_keys())
        except ValueError as exc:
            raise RuleSyncError(f"rule bundle rejected: {exc}") from None
        self.reload()
        self.syncs += 1
        log.info("rules.synced", "rule bundle verified and loaded", rules=len(self.engine.rules))

    def status(self) -> dict[str, Any]:
        return {"rules": len(self.engine.rules), "syncs": self.syncs}
