"""Side-by-side installs of msp-agent releases (the helper's ``agent-install``).

Layout under ``MSP_AGENT_RELEASES`` (default ``/opt/msp-agent``, root-owned)::

    releases/<version>/          a virtual environment holding that release's wheels
    releases/<version>/.msp-release.json   written last: the install is complete
    current -> releases/<version>          what the unit's ExecStart runs (…/current/bin/msp-agent)

On NixOS there is no ``current``: the runtime drop-in names the release (:mod:`agent.priv.dropin`).

An install copies the bundle the agent staged (``<state_dir>/update-staging/<bundle>/``) into the
new release directory first, so the agent cannot change it after the checks; verifies it again
here against the helper's own pinned key (``MSP_AGENT_RELEASE_KEY``); creates the environment and
installs exactly the manifest's wheels (``pip install --no-index --no-deps``). A kill at any step
leaves a directory without its completion marker, which is never switched to and is removed by the
next install. The running release is never touched.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
import sys
import time
from pathlib import Path

from agent.priv.base import HelperEnv, Outcome, Refused, run
from agent.priv.bundle import MANIFEST, SIGNATURE, WHEELS, BundleError, verify

MARKER = ".msp-release.json"
STAGING = "update-staging"
COPY_CAP = 512 * 1024 * 1024


def release_dir(env: HelperEnv, version: str) -> Path:
    return env.releases / "releases" / version


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file() and (path / "bin" / "msp-agent").exists()


def current_version(env: HelperEnv) -> str | None:
    """The release ``current`` points at (NixOS: :func:`agent.priv.dropin.running_version`)."""
    try:
        target = os.readlink(env.releases / "current")
    except OSError:
        return None
    return Path(target).name


def install(env: HelperEnv, bundle: str, version: str, deadline_s: float,
            running: str | None) -> Outcome:
    """``running``: the release the agent unit runs (it is never reinstalled)."""
    started = time.monotonic()
    source = env.agent_state / STAGING / bundle
    if any(p.is_symlink() for p in (env.agent_state / STAGING, source, source / WHEELS)) or \
            not (source / WHEELS).is_dir():
        raise Refused(f"no staged bundle {bundle!r}")
    target = release_dir(env, version)
    if is_complete(target):
        return Outcome(result={"status": "already_installed", "version": version})
    (env.releases / "releases").mkdir(mode=0o755, parents=True, exist_ok=True)
    if version == running:
        raise Refused(f"release {version} is the running release but is incomplete")
    shutil.rmtree(target, ignore_errors=True)  # an earlier install killed midway
    target.mkdir(mode=0o755)
    copy = target / ".bundle"
    _copy_bundle(source, copy)
    env.crash_point("install.copied")
    try:
        manifest = verify(copy, env.release_key, platform.machine())
    except BundleError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise Refused(str(exc)) from None
    if manifest.version != version:
        shutil.rmtree(target, ignore_errors=True)
        raise Refused(f"the bundle is release {manifest.version}, not {version}")
    env.crash_point("install.verified")

    def remaining() -> float:
        return max(5.0, deadline_s - (time.monotonic() - started))

    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    out = run([sys.executable, "-I", "-m", "venv", "--without-pip", str(target)], remaining(),
              clean)
    env.crash_point("install.venv")
    if out.exit_code == 0:
        # exactly the manifest's wheels: no index, no dependency resolution, no pip config
        wheels = [str(copy / WHEELS / w.file) for w in manifest.wheels]
        out.add(run([sys.executable, "-I", "-m", "pip", "--isolated", "--python",
                     str(target / "bin" / "python"), "--disable-pip-version-check",
                     "--no-input", "install", "--no-index", "--no-deps", "--no-cache-dir",
                     *wheels], remaining(), clean))
    env.crash_point("install.pip")
    if out.exit_code != 0 or not (target / "bin" / "msp-agent").exists():
        shutil.rmtree(target, ignore_errors=True)
        out.exit_code = out.exit_code or 1
        out.result = {"status": "install_failed", "version": version}
        return out
    shutil.rmtree(copy)
    _write_marker(target, {"version": version, "state_format": manifest.state_format,
                           "installed_at": int(time.time())})
    env.crash_point("install.marked")
    out.result = {"status": "installed", "version": version,
                  "state_format": manifest.state_format}
    return out


def _copy_bundle(source: Path, dest: Path) -> None:
    (dest / WHEELS).mkdir(mode=0o700, parents=True)
    names = [MANIFEST, SIGNATURE, *(f"{WHEELS}/{p.name}" for p in (source / WHEELS).iterdir())]
    total = 0
    for name in names:
        fd = os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as src, open(dest / name, "xb") as out:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise Refused(f"staged {name} is not a regular file")
            while block := src.read(1 << 16):
                total += len(block)
                if total > COPY_CAP:
                    raise Refused("the staged bundle exceeds its size cap")
                out.write(block)


def _write_marker(folder: Path, doc: dict[str, object]) -> None:
    tmp = folder / (MARKER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.rename(tmp, folder / MARKER)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(env: HelperEnv, keep: set[str]) -> list[str]:
    """Remove installed releases other than ``keep``; returns what was removed."""
    removed = []
    root = env.releases / "releases"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
