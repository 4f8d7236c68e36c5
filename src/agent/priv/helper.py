"""The privileged helper program (runtime.md §10.4): ``msp-agent-priv <action>``.

Run by the root-owned oneshot unit ``msp-agent-priv@<action>.service`` (never by the agent
itself). It reads ``<root>/<action>.json`` (written by the agent: ``{"invocation": id,
"params": {...}}``), refuses an action outside the compiled-in allowlist or outside the
configured ``privilegedActions`` (``MSP_AGENT_PRIV_ACTIONS``, unset = none), validates the
parameters against the action's schema, runs the action (a fixed program by argument list, never
a shell) and writes ``<root>/<action>.result.json`` (``invocation``, ``action``, ``ok``,
``exit_code``, capped ``stdout``/``stderr``, the parsed ``MSP_RESULT`` line as ``result``,
``error``), owned by the owner of ``<root>`` (the agent's user). Files are opened without
following links; the parameter file is removed once read.

Everything it is configured with comes from its unit's environment (root-owned), see
:class:`HelperEnv`. Exit status: 0 the action ran (its own exit code is in the result), 2
refused, 1 the result could not be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import sys
from typing import Any

from agent.priv import actions
from agent.priv.base import HelperEnv, Refused
from agent.priv.schema import ACTIONS, MAX_PARAMS_BYTES, SchemaError, validate


def open_exchange(env: HelperEnv) -> int | None:
    """The exchange folder, opened without following a link (every file in it is then reached
    through this descriptor: a folder swapped for a link elsewhere is never written through);
    None when it does not exist (the watchdog's timer while the agent is stopped)."""
    try:
        return os.open(env.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Refused(f"the exchange folder is unusable ({exc.strerror})") from None


def read_params(dfd: int, action: str) -> tuple[str, dict[str, Any]]:
    """(invocation id, raw parameters) of the agent's request, the file removed after reading."""
    name = f"{action}.json"
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except FileNotFoundError:
        raise Refused(f"no parameter file for {action}") from None
    except OSError as exc:
        raise Refused(f"parameter file unusable: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        owner = os.fstat(dfd).st_uid
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in (owner, 0):
            raise Refused("parameter file is not a regular file of the agent's user")
        data = os.read(fd, MAX_PARAMS_BYTES + 1)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dfd)
    if len(data) > MAX_PARAMS_BYTES:
        raise Refused("parameter file too large")
    try:
        doc = json.loads(data)
    except ValueError:
        raise Refused("parameter file is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != {"invocation", "params"} or \
            not isinstance(doc["invocation"], str) or \
            not re.fullmatch(r"[0-9a-f]{16,64}", doc["invocation"]):
        raise Refused("parameter file must hold exactly an invocation id and params")
    return doc["invocation"], doc["params"]


def write_result(dfd: int, action: str, doc: dict[str, Any]) -> None:
    """Atomically replace ``<action>.result.json``, owned by the owner of the exchange folder."""
    tmp = f".{action}.result.{secrets.token_hex(6)}"
    data = json.dumps(doc, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=dfd)
    try:
        if os.geteuid() == 0:
            st = os.fstat(dfd)
            os.fchown(fd, st.st_uid, st.st_gid)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, f"{action}.result.json", src_dir_fd=dfd, dst_dir_fd=dfd)
    os.fsync(dfd)


def invoke(env: HelperEnv, action: str, dfd: int | None) -> tuple[int, dict[str, Any]]:
    """Run one invocation; (exit status, result document). ``dfd``: the exchange folder."""
    doc: dict[str, Any] = {"action": action, "invocation": None, "ok": False, "exit_code": None,
                           "stdout": "", "stderr": "", "result": None, "error": None}
    try:
        if action not in ACTIONS:
            raise Refused(f"action {action!r} is not in the helper's allowlist")
        invocation = None
        if dfd is not None and (action != "watchdog" or _exists(dfd, "watchdog.json")):
            invocation, raw = read_params(dfd, action)
        elif action != "watchdog":
            raise Refused("no exchange folder")
        else:
            raw = {}  # the timer starts the watchdog with no parameter file
        doc["invocation"] = invocation
        if action not in env.allowed:
            raise Refused(f"action {action!r} is not in privilegedActions on this appliance")
        params = validate(action, raw)
    except (Refused, SchemaError) as exc:
        doc["error"] = f"refused: {exc}"
        return 2, doc
    try:
        out = actions.dispatch(env, action, params)
    except Refused as exc:
        doc["error"] = f"refused: {exc}"
        return 2, doc
    doc.update(ok=out.exit_code == 0, exit_code=out.exit_code, stdout=out.stdout,
               stderr=out.stderr, result=out.result)
    if out.exit_code != 0 and not doc["error"]:
        doc["error"] = f"exited {out.exit_code}"
    return 0, doc


def _exists(dfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: msp-agent-priv <action>", file=sys.stderr)
        return 2
    env = HelperEnv.from_environ()
    action = args[0]
    try:
        dfd = open_exchange(env)
    except Refused as exc:
        print(f"msp-agent-priv: {exc}", file=sys.stderr)
        return 2
    status, doc = invoke(env, action, dfd)
    safe = action if action in ACTIONS else "refused"
    if dfd is None:  # the timer's watchdog while the agent is stopped: nobody to tell
        return status
    try:
        write_result(dfd, safe, doc)
    except OSError as exc:
        print(f"msp-agent-priv: result not written: {exc}", file=sys.stderr)
        return 1
    finally:
        os.close(dfd)
    if doc.get("error"):
        print(f"msp-agent-priv {safe}: {doc['error']}", file=sys.stderr)
    return status
