"""The agent's side of the privileged helper (runtime.md §10.4).

:meth:`PrivClient.run` checks the parameters against the same schema the helper uses, writes
``<root>/<action>.json`` atomically, runs ``systemctl start msp-agent-priv@<action>.service``
by argument list (never a shell, never ``sudo`` or ``systemd-run``; a oneshot unit returns when
the action is done), waits with the action's deadline, and reads back and checks
``<root>/<action>.result.json`` (it must answer this invocation). One invocation per action at a
time (the unit instance is the action).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.priv.schema import ACTIONS, SchemaError, validate
from agent.state.atomic import atomic_write, ensure_dir

log = get_logger("priv")

MAX_RESULT_BYTES = 512 * 1024
EXTRA_WAIT_S = 15.0  # systemd's own start-up of the unit on top of the action's deadline


class PrivError(Exception):
    """The helper could not be asked, did not answer, or refused; the message says which."""


@dataclass(frozen=True, slots=True)
class PrivResult:
    action: str
    ok: bool
    exit_code: int | None
    stdout: str
    stderr: str
    result: dict[str, Any] | None
    error: str | None


def unit_name(action: str) -> str:
    return f"msp-agent-priv@{action}.service"


class PrivClient:
    """``root``: the exchange folder (``$RUNTIME_DIRECTORY/priv``); ``systemctl``: the program
    (a name on ``PATH`` or an absolute path); ``trial_file``: the helper's ``trial.json``."""

    def __init__(self, root: Path, *, systemctl: str = "systemctl",
                 trial_file: Path = Path("/var/lib/msp-agent-priv/trial.json")) -> None:
        self.root = root
        self.systemctl = systemctl
        self.trial_file = trial_file
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, action: str, params: dict[str, Any] | None = None, *,
                  deadline_s: float | None = None) -> PrivResult:
        """Run one action; raises :class:`PrivError` when there is no trustworthy answer (a
        refusal by the helper comes back as a result with ``ok`` False and ``error``)."""
        try:
            clean = validate(action, params or {})
        except SchemaError as exc:
            raise PrivError(f"not sent to the helper: {exc}") from None
        limit = deadline_s if deadline_s is not None else ACTIONS[action].deadline_s + EXTRA_WAIT_S
        lock = self._locks.setdefault(action, asyncio.Lock())
        async with lock:
            return await self._invoke(action, clean, limit)

    async def _invoke(self, action: str, params: dict[str, Any], limit: float) -> PrivResult:
        ensure_dir(self.root, 0o700)
        result_path = self.root / f"{action}.result.json"
        result_path.unlink(missing_ok=True)
        invocation = secrets.token_hex(16)
        atomic_write(self.root / f"{action}.json",
                     json.dumps({"invocation": invocation, "params": params}).encode(), 0o600)
        exe = shutil.which(self.systemctl)
        if exe is None:
            raise PrivError(f"{self.systemctl} not found: the privileged helper is unavailable")
        proc = await asyncio.create_subprocess_exec(
            exe, "start", "--no-ask-password", unit_name(action),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={"PATH": os.environ.get("PATH", ""),
                                                    "LC_ALL": "C"})
        try:
            async with asyncio.timeout(limit):
                out, _ = await proc.communicate()
        except TimeoutError:
            raise PrivError(f"{unit_name(action)} did not finish within {limit:g} s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()
            with contextlib.suppress(OSError):
                (self.root / f"{action}.json").unlink()
        doc = self._read(result_path, invocation, action)
        if doc is None:
            text = out.decode("utf-8", "replace").strip()[-300:]
            raise PrivError(f"{unit_name(action)} left no result (systemctl exited "
                            f"{proc.returncode}: {text})")
        res = PrivResult(action, bool(doc["ok"]), doc["exit_code"], doc["stdout"], doc["stderr"],
                         doc["result"], doc["error"])
        log.info("priv.ran", "privileged helper action finished", action=action, ok=res.ok,
                 exit_code=res.exit_code)
        return res

    def last_reason(self) -> str | None:
        """Why the helper's last trial was rolled back (its ``trial.json``, readable by all),
        if it was."""
        try:
            doc = json.loads(self.trial_file.read_bytes()[:MAX_RESULT_BYTES])
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("status") != "rolled_back":
            return None
        reason = doc.get("reason")
        return reason[:500] if isinstance(reason, str) and reason else None

    @staticmethod
    def _read(path: Path, invocation: str, action: str) -> dict[str, Any] | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_RESULT_BYTES + 1)
        try:
            doc = json.loads(data) if len(data) <= MAX_RESULT_BYTES else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("invocation") != invocation or \
                doc.get("action") != action:
            raise PrivError(f"the helper's result for {action} is not an answer to this "
                            "invocation")
        checks = {"ok": bool, "stdout": str, "stderr": str}
        if any(not isinstance(doc.get(k), t) for k, t in checks.items()) or \
                not isinstance(doc.get("exit_code"), int | None) or \
                not isinstance(doc.get("result"), dict | None) or \
                not isinstance(doc.get("error"), str | None):
            raise PrivError(f"the helper's result for {action} is malformed")
        return doc


def default_client(state_dir: Path) -> PrivClient:
    """The daemon's client: the exchange folder in its runtime directory
    (``$RUNTIME_DIRECTORY/priv``, else ``<state_dir>/run/priv``), the helper's ``trial.json`` in
    ``$MSP_AGENT_PRIV_STATE`` (the variable the helper's unit sets; default
    ``/var/lib/msp-agent-priv``)."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    root = Path(runtime) / "priv" if runtime else state_dir / "run" / "priv"
    trial = Path(os.environ.get("MSP_AGENT_PRIV_STATE", "/var/lib/msp-agent-priv")) / "trial.json"
    return PrivClient(root, trial_file=trial)
