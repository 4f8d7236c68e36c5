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

import json
import os
import re
import secrets
import sys
from typing import Any

from agent.priv import actions
from agent.priv.base import HelperEnv, Refused
from agent.priv.schema import ACTIONS, MAX_PARAMS_BYTES, SchemaError, validate


def read_params(env: HelperEnv, action: str) -> tuple[str, dict[str, Any]]:
    """(invocation id, raw parameters) of the agent's request, the file removed after reading."""
    path = env.root / f"{action}.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Refused(f"no parameter file for {action}") from None
    except OSError as exc:
        raise Refused(f"parameter file unusable: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        owner = os.stat(env.root).st_uid
        if not (st.st_mode & 0o170000 == 0o100000) or st.st_uid not in (owner, 0):
            raise Refused("parameter file is not a regular file of the agent's user")
        data = os.read(fd, MAX_PARAMS_BYTES + 1)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
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


def write_result(env: HelperEnv, action: str, doc: dict[str, Any]) -> None:
    """Atomically replace ``<action>.result.json``, owned by the owner of the exchange folder."""
    final = env.root / f"{action}.result.json"
    tmp = env.root / f".{action}.result.{secrets.token_hex(6)}"
    data = json.dumps(doc, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if os.geteuid() == 0:
            st = os.stat(env.root)
            os.fchown(fd, st.st_uid, st.st_gid)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)


def invoke(env: HelperEnv, action: str) -> tuple[int, dict[str, Any]]:
    """Run one invocation; (exit status, result document)."""
    doc: dict[str, Any] = {"action": action, "invocation": None, "ok": False, "exit_code": None,
                           "stdout": "", "stderr": "", "result": None, "error": None}
    try:
        if action not in ACTIONS:
            raise Refused(f"action {action!r} is not in the helper's allowlist")
        invocation = None
        if action != "watchdog" or (env.root / "watchdog.json").exists():
            invocation, raw = read_params(env, action)
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: msp-agent-priv <action>", file=sys.stderr)
        return 2
    env = HelperEnv.from_environ()
    action = args[0]
    status, doc = invoke(env, action)
    safe = action if action in ACTIONS else "refused"
    if not env.root.is_dir():  # the timer's watchdog while the agent is stopped: nobody to tell
        return status
    try:
        write_result(env, safe, doc)
    except OSError as exc:
        print(f"msp-agent-priv: result not written: {exc}", file=sys.stderr)
        return 1
    if doc.get("error"):
        print(f"msp-agent-priv {safe}: {doc['error']}", file=sys.stderr)
    return status
