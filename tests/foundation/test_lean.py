"""Only what the configuration uses is imported (issue 20): each check runs a fresh interpreter and
reads its ``sys.modules``. No timing is asserted (start-up times live in ``bench/daemon.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import Install, clean_env

#: Never imported by ``version`` or ``--help``: the daemon, its event loop and its libraries.
NOT_FOR_THE_CLI = ("asyncio", "uvloop", "aiohttp", "nacl", "yaml", "msgspec", "agent.runtime",
                   "agent.wiring", "agent.uplink", "agent.transport", "agent.phi", "agent.crypto",
                   "agent.config")
#: Never imported by a daemon with no targets and the native scrubber: SSH (asyncssh and its
#: cryptography), WinRM (pyspnego and the WinRM transport), the platform scanners, L2's planner
#: side, the reference scrubber and its fold table, the local Central Command, provisioning.
#: (aiohttp joins this list once the Uplink's transport no longer uses it: issue 20, item 1.)
NOT_FOR_AN_EMPTY_SITE = ("asyncssh", "cryptography", "spnego", "agent.exec.ssh", "agent.exec.winrm",
                         "agent.exec.winrm_transport", "agent.scan.linux", "agent.scan.windows",
                         "agent.scan.macos", "agent.l2.decision", "agent.l2.request",
                         "agent.phi.reference", "agent.phi._fold_table", "agent.central",
                         "agent.provision.flow", "aiohttp", "multidict", "yarl", "agent.hub",
                         "grpclib", "google.protobuf",
                         # the update paths' libraries, until an update order arrives (~4 MiB)
                         "importlib.metadata", "http.client", "email", "tarfile", "zipfile")

CLI = """
import json, sys
from agent.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
with open(sys.argv[1], "w") as fh:
    json.dump(sorted(sys.modules), fh)
"""

DAEMON = """
import asyncio, json, sys
from pathlib import Path
from agent import native, wiring
from agent.config import load_config
from agent.state import StateDir, load_or_create

config_path = Path(sys.argv[2])
loaded = load_config(config_path)
state = StateDir(loaded.config.state_dir)
state.open()
keys = load_or_create(state.path)

async def main():
    wired = wiring.daemon(loaded.config, config_path, keys, restart=lambda: None)
    await wired.close()

asyncio.run(main())
state.close()
with open(sys.argv[1], "w") as fh:
    json.dump({"modules": sorted(sys.modules), "native": native.NATIVE}, fh)
"""


def _modules(tmp_path: Path, script: str, *args: str) -> object:
    out = tmp_path / "modules.json"
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(out), *args],
                       env=clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def _loaded(modules: object, names: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_version_imports_no_daemon_and_no_library(tmp_path: Path) -> None:
    modules = _modules(tmp_path, CLI, "version", "--json")
    assert _loaded(modules, NOT_FOR_THE_CLI) == []
    assert "agent.commands.version" in modules  # type: ignore[operator]
    assert "agent.commands.run" not in modules  # type: ignore[operator]


def test_help_imports_no_daemon(tmp_path: Path) -> None:
    modules = _modules(tmp_path, CLI, "--help")
    assert _loaded(modules, NOT_FOR_THE_CLI) == []
    assert "agent.commands.run" in modules  # type: ignore[operator]  # every command listed


def test_version_says_what_the_full_import_would(tmp_path: Path) -> None:
    """``version`` reports the scrubber and the batch verifier without importing them; the
    answers match the modules' own."""
    r = subprocess.run([sys.executable, "-m", "agent", "version", "--json"], env=clean_env(),
                       capture_output=True, text=True, timeout=60, check=True)
    doc = json.loads(r.stdout)
    from agent import phi
    from agent.crypto import batch_verifier_status

    assert doc["phi_scrubber"] == phi.IMPLEMENTATION
    in_use, why = batch_verifier_status()
    assert doc["ed25519_batch_verifier"] == {"in_use": in_use, "reason": why}


def test_scrub_hash_modes_match_the_tokenizer() -> None:
    from agent.commands.scrub import HASH_MODES
    from agent.phi.tokens import HASH_MODES as TOKEN_MODES

    assert HASH_MODES == TOKEN_MODES


def test_a_daemon_without_targets_imports_no_executor_library(tmp_path: Path,
                                                              install: Install) -> None:
    install.state.mkdir(mode=0o700)
    doc = _modules(tmp_path, DAEMON, str(install.config))
    assert isinstance(doc, dict)
    names = NOT_FOR_AN_EMPTY_SITE if doc["native"] else tuple(
        n for n in NOT_FOR_AN_EMPTY_SITE if not n.startswith("agent.phi."))
    assert _loaded(doc["modules"], names) == []
    # What it does import: the daemon's own parts.
    assert _loaded(doc["modules"], ("agent.wiring", "agent.checkin.component",
                                    "agent.scan.component")) == [
        "agent.wiring", "agent.checkin.component", "agent.scan.component"]


PREPARE = """
import asyncio, importlib.abc, json, sys, threading
from pathlib import Path
from agent.config import load_config
from agent.exec.pool import ExecutorPool
from agent.exec.types import Target, Transport

seen = {}

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("asyncssh", "agent.exec.ssh"):
            seen[name] = threading.current_thread() is threading.main_thread()
        return None

sys.meta_path.insert(0, Watch())
pool = ExecutorPool(load_config(Path(sys.argv[2])).config)

async def main():
    await pool.prepare(Target(Transport.SSH, "192.0.2.1", 22, "linux", ""))
    await pool.prepare(Target(Transport.LOCAL, "localhost", None, "linux", "appliance"))
    pool.for_target(Target(Transport.SSH, "192.0.2.1", 22, "linux", ""))
    await pool.close()

asyncio.run(main())
with open(sys.argv[1], "w") as fh:
    json.dump({"main_thread": seen, "winrm": "agent.exec.winrm" in sys.modules}, fh)
"""


def test_the_ssh_executor_is_imported_off_the_event_loop_thread(tmp_path: Path,
                                                                install: Install) -> None:
    """A scan's first SSH host imports asyncssh in a worker thread: the loop's timers (the
    checkin's) keep running meanwhile."""
    doc = _modules(tmp_path, PREPARE, str(install.config))
    assert doc == {"main_thread": {"agent.exec.ssh": False, "asyncssh": False}, "winrm": False}
