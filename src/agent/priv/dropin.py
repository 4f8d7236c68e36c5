"""NixOS: an msp-agent release run as a runtime override of the agent unit's ``ExecStart``.

On NixOS the unit's ``ExecStart`` is a store path, so the helper does not swap a ``current``
link: it writes the runtime drop-in ``/run/systemd/system/msp-agent.service.d/50-msp-release.conf``
(``MSP_AGENT_DROPIN``; root-owned, 0644, written to a temporary file, fsynced, renamed, the folder
fsynced)::

    [Service]
    ExecStart=
    ExecStart=<releases>/releases/<version>/bin/msp-agent <the unit's own arguments>

and runs ``systemctl daemon-reload``; removing it (and reloading) puts the store version back.
``/run`` does not survive a reboot: the generation's unit is authoritative again after one (and
after ``nixos-rebuild``, which the agent is then updated by). The arguments are the unit's
(``MSP_AGENT_EXEC_ARGS``, set by the NixOS module). A drop-in only ever names a complete
release inside the releases root; one that names anything else is *stale* (the watchdog removes
it, like the Go daemon's boot self-heal).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from agent.priv.base import HelperEnv, Outcome, Refused, run
from agent.priv.releases import current_version, fsync_dir, is_complete, release_dir
from agent.priv.schema import VERSION

#: What an ExecStart argument may hold: no quoting, no ``%`` specifiers, no ``$`` expansion.
_ARG = re.compile(r"[A-Za-z0-9/._:=,@+-]{1,512}", re.ASCII)
HEADER = "# msp-agent-priv: a runtime override until the next reboot (update_daemon on NixOS)\n"


class Stale(str):
    """The drop-in names something other than a complete release inside the releases root."""


def program(env: HelperEnv, version: str) -> Path:
    """The release's entry point, refused unless it is a complete release inside the root."""
    if not VERSION.fullmatch(version):
        raise Refused(f"{version!r} is not a release version")
    folder = release_dir(env, version)
    inside = os.path.realpath(env.releases / "releases")
    if os.path.dirname(os.path.realpath(folder)) != inside or folder.is_symlink():
        raise Refused(f"release {version} is not inside the releases root")
    if not is_complete(folder):
        raise Refused(f"release {version} is not installed")
    return folder / "bin" / "msp-agent"


def render(env: HelperEnv, version: str) -> bytes:
    bad = [a for a in env.exec_args if not _ARG.fullmatch(a)]
    if bad or not env.exec_args:
        raise Refused("MSP_AGENT_EXEC_ARGS is missing or holds an argument that cannot be "
                      "written into a unit file")
    line = " ".join([str(program(env, version)), *env.exec_args])
    return f"{HEADER}[Service]\nExecStart=\nExecStart={line}\n".encode()


def write(env: HelperEnv, version: str) -> None:
    """Point the drop-in at ``version`` with one atomic rename."""
    data = render(env, version)
    folder = env.dropin.parent
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = folder / f".{env.dropin.name}.{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        if os.geteuid() == 0:
            os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o644)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    env.crash_point("switch.linked")
    os.rename(tmp, env.dropin)
    fsync_dir(folder)


def remove(env: HelperEnv) -> bool:
    """Remove the drop-in (and temporary files of a write killed midway); whether it existed."""
    folder = env.dropin.parent
    for left in folder.glob(f".{env.dropin.name}.*") if folder.is_dir() else []:
        left.unlink(missing_ok=True)
    try:
        env.dropin.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(folder)
    return True


def target(env: HelperEnv) -> str | None:
    """The program the drop-in's effective ``ExecStart=`` runs; None without a drop-in, ``""``
    when it resets ``ExecStart=`` without setting one or cannot be read."""
    try:
        text = env.dropin.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    last = ""
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and key.strip() == "ExecStart":
            fields = value.split()
            last = fields[0].lstrip("@-:+!") if fields else ""
    return last


def current(env: HelperEnv) -> str | Stale | None:
    """The release the drop-in runs, None when there is none (the store version runs), or
    :class:`Stale` (with the reason) when it names anything but a complete release."""
    prog = target(env)
    if prog is None:
        return None
    path = Path(prog)
    folder = path.parent.parent
    why = f"the runtime drop-in {env.dropin} is stale: "
    if path.parts[-2:] != ("bin", "msp-agent") or folder.parent != env.releases / "releases":
        return Stale(f"{why}it runs {prog!r}, not a release inside {env.releases}")
    try:
        program(env, folder.name)
    except Refused as exc:
        return Stale(f"{why}{exc}")
    return folder.name


def running_version(env: HelperEnv) -> str | None:
    """The release the agent unit runs: ``current``'s, or on NixOS the drop-in's (None: the
    store version, or a stale drop-in)."""
    if not env.nixos:
        return current_version(env)
    running = current(env)
    return None if running is None or isinstance(running, Stale) else str(running)


def reload(env: HelperEnv) -> Outcome:
    return run(["systemctl", "daemon-reload"], 60)
