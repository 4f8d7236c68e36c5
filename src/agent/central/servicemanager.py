"""The service manager, played (tests and ``demo --scenario update``; never in the daemon).

A stand-in ``systemctl`` (and stand-in host tools) on ``PATH``, since there is no systemd as
PID 1 to start the privileged helper's units.

``systemctl start msp-agent-priv@<action>.service`` runs the real helper (``python -m
agent.priv <action>``) as this user with its unit's environment pointed at the test's
directories; ``restart`` of the agent's unit runs its ExecStart as of the last ``daemon-reload`` (the unit's
own: ``<releases>/current/bin/msp-agent --config … run --once``, or on the played NixOS the
store program; then the runtime drop-ins' ``ExecStart=`` lines; ``daemon-reload`` fails while
``<units>/msp-agent.service.exec.fails`` exists), logs ``agent exec <program>``
and records the unit active or failed from its exit status; ``is-failed`` and
``reset-failed`` answer from that record. ``start``/``restart`` of any other unit records it
active with its exit time (failed, exit 1, while ``<units>/<unit>.fails`` exists); ``is-active``
and ``show -p Result -p ExecMainExitTimestamp -p LoadState`` answer from that record (every unit
is loaded unless ``<units>/<unit>.missing`` exists). Every call is logged.
``nixos-rebuild`` points the fake ``current-system`` link at a new generation; ``journalctl``,
``nix-collect-garbage`` and ``nix-store`` record their argument lists. Everything else
(downloads, hashes, signatures, the virtual environments, the ``current`` link, the processes)
is real.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.priv.bundle import unpack
from agent.priv.client import PrivClient
from agent.priv.schema import ACTIONS

SYSTEMCTL = r'''#!{python}
import json, os, subprocess, sys, time
cfg = json.load(open({cfg!r}))
with open(cfg["log"], "a") as fh:
    fh.write("systemctl " + " ".join(sys.argv[1:]) + "\n")
args = [a for a in sys.argv[1:] if not a.startswith("--")]
verb, unit = args[0], (args[1] if len(args) > 1 else "")
state = os.path.join(cfg["units"], unit)
def read():
    try:
        return open(state).read()
    except OSError:
        return "inactive"
if verb == "start" and unit.startswith("msp-agent-priv@") and unit.endswith(".service"):
    action = unit[len("msp-agent-priv@"):-len(".service")]
    env = dict(cfg["helper_env"])
    rc = subprocess.run([cfg["python"], "-m", "agent.priv", action], env=env).returncode
    sys.exit(0 if rc == 0 else 1)
def unit_exec():
    """The agent unit's ExecStart: the unit's own, then each drop-in's (sorted) ExecStart=
    lines, an empty one resetting it; None when it ends reset."""
    program = cfg.get("agent_program") or os.path.join(cfg["releases"], "current", "bin",
                                                       "msp-agent")
    cmd = [program, *cfg["agent_args"]]
    folder = cfg.get("dropin_dir")
    for name in sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []:
        if not name.endswith(".conf"):
            continue
        for line in open(os.path.join(folder, name)).read().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key == "ExecStart":
                cmd = value.split() or None
    return cmd
loaded = os.path.join(cfg["units"], cfg["agent_unit"] + ".exec")
if verb == "daemon-reload":
    if os.path.exists(loaded + ".fails"):
        print("Failed to reload daemon: played failure", file=sys.stderr)
        sys.exit(1)
    with open(loaded + ".tmp", "w") as fh:
        json.dump(unit_exec(), fh)
    os.rename(loaded + ".tmp", loaded)
    sys.exit(0)
if unit == cfg["agent_unit"]:
    if verb == "restart":
        cmd = json.load(open(loaded)) if os.path.exists(loaded) else unit_exec()
        with open(cfg["log"], "a") as fh:
            fh.write(f"agent exec {{cmd[0] if cmd else None}}\n")
        try:
            if not cmd:
                raise OSError("no ExecStart")
            rc = subprocess.run(cmd, env=dict(cfg["agent_env"]), timeout=180).returncode
        except (OSError, subprocess.TimeoutExpired):
            rc = 1
        with open(cfg["log"], "a") as fh:
            fh.write(f"agent exited {{rc}}\n")
        open(state, "w").write("active" if rc == 0 else "failed")
        sys.exit(0)
    if verb == "reset-failed":
        if read() == "failed":
            open(state, "w").write("inactive")
        sys.exit(0)
    if verb == "is-failed":
        sys.exit(0 if read() == "failed" else 1)
if verb == "show":
    state = os.path.join(cfg["units"], args[-1])
    st, props = read(), args[2:-1:2]
    stamp = open(state + ".exit").read() if os.path.exists(state + ".exit") else ""
    values = dict(Result="exit-code" if st == "failed" else "success",
                  ExecMainExitTimestamp="@" + stamp if stamp else "",
                  LoadState="not-found" if os.path.exists(state + ".missing") else "loaded")
    for p in props:
        print(p + "=" + values.get(p, ""))
    sys.exit(0)
if verb == "is-active":
    st = read()
    print(st)
    sys.exit(0 if st == "active" else 3)
if verb in ("start", "restart") and unit:
    failing = os.path.exists(state + ".fails")
    open(state, "w").write("failed" if failing else "active")
    open(state + ".exit", "w").write(str(int(time.time())))
    sys.exit(1 if failing else 0)
sys.exit(0)
'''

NIXOS_REBUILD = r'''#!{python}
import json, os, sys
cfg = json.load(open({cfg!r}))
with open(cfg["log"], "a") as fh:
    fh.write("nixos-rebuild " + " ".join(sys.argv[1:]) + "\n")
if cfg.get("rebuild_fails"):
    print("error: flake evaluation failed", file=sys.stderr)
    sys.exit(1)
if sys.argv[1] == "test":
    gen = os.path.join(cfg["root"], "generations", "new")
    os.makedirs(os.path.join(gen, "bin"), exist_ok=True)
    tmp = cfg["current_system"] + ".tmp"
    os.symlink(gen, tmp)
    os.rename(tmp, cfg["current_system"])
sys.exit(0)
'''

RECORDER = r'''#!{python}
import os, sys
with open({log!r}, "a") as fh:
    fh.write(os.path.basename(sys.argv[0]) + " " + " ".join(sys.argv[1:]) + "\n")
'''


@dataclass
class Harness:
    root: Path
    bin: Path
    runtime: Path
    priv_root: Path
    priv_state: Path
    releases: Path
    state_dir: Path
    current_system: Path
    log: Path
    cfg_file: Path
    cfg: dict[str, object] = field(default_factory=dict)

    def save(self) -> None:
        self.cfg_file.write_text(json.dumps(self.cfg))

    def set_helper_env(self, **values: str) -> None:
        env = dict(self.cfg["helper_env"])  # type: ignore[call-overload]
        env.update(values)
        self.cfg["helper_env"] = env
        self.save()

    def set_agent(self, config: Path, env: dict[str, str]) -> None:
        self.cfg["agent_args"] = ["--config", str(config), "run", "--once"]
        self.cfg["agent_env"] = {**self.agent_env(), **env}
        self.set_helper_env(MSP_AGENT_EXEC_ARGS=f"--config {config} run --once")

    @property
    def dropin(self) -> Path:
        """The runtime drop-in the helper writes on the played NixOS."""
        return self.root / "run-systemd" / "msp-agent.service.d" / "50-msp-release.conf"

    def nixos(self, store_program: Path) -> None:
        """Play NixOS: the agent unit's ExecStart is ``store_program`` (its "store path"), the
        helper switches releases by the runtime drop-in."""
        self.cfg["agent_program"] = str(store_program)
        self.cfg["dropin_dir"] = str(self.dropin.parent)
        self.set_helper_env(MSP_AGENT_NIXOS="1", MSP_AGENT_DROPIN=str(self.dropin))

    def running(self) -> str | None:
        """The program the agent unit last started."""
        runs = [c.split(" ", 2)[2] for c in self.calls() if c.startswith("agent exec ")]
        return runs[-1] if runs else None

    def agent_env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
                "RUNTIME_DIRECTORY": str(self.runtime),
                "MSP_AGENT_PRIV_STATE": str(self.priv_state),
                "MSP_AGENT_CURRENT_SYSTEM": str(self.current_system),
                "PYTHONDONTWRITEBYTECODE": "1"}

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    @property
    def systemctl(self) -> str:
        return str(self.bin / "systemctl")

    def trial(self) -> dict[str, object]:
        doc: dict[str, object] = json.loads((self.priv_state / "trial.json").read_text())
        return doc

    def current(self) -> str:
        return Path(os.readlink(self.releases / "current")).name


def install(tmp_path: Path, *, actions: tuple[str, ...] = tuple(ACTIONS), release_key: str = "",
            state_dir: Path | None = None) -> Harness:
    root = tmp_path / "sys"
    h = Harness(root=root, bin=root / "bin", runtime=root / "run", priv_root=root / "run" / "priv",
                priv_state=root / "priv-state", releases=root / "opt", state_dir=state_dir or
                tmp_path / "state", current_system=root / "current-system", log=root / "calls.log",
                cfg_file=root / "fake.json")
    for d in (h.bin, h.runtime, h.priv_root, h.releases, root / "units", root / "generations" / "old"):
        d.mkdir(parents=True, exist_ok=True)
    h.state_dir.mkdir(mode=0o700, exist_ok=True)
    (root / "generations" / "old" / "bin").mkdir(exist_ok=True)
    os.symlink(root / "generations" / "old", h.current_system)
    h.cfg = {"log": str(h.log), "units": str(root / "units"), "python": sys.executable,
             "agent_unit": "msp-agent.service", "releases": str(h.releases), "root": str(root),
             "current_system": str(h.current_system), "agent_args": ["version"],
             "agent_env": {}, "helper_env": {
                 "PATH": f"{h.bin}:{os.environ.get('PATH', '')}",
                 "MSP_AGENT_PRIV_ROOT": str(h.priv_root),
                 "MSP_AGENT_PRIV_ACTIONS": " ".join(actions),
                 "MSP_AGENT_PRIV_STATE": str(h.priv_state),
                 "MSP_AGENT_STATE_DIR": str(h.state_dir),
                 "MSP_AGENT_RELEASES": str(h.releases),
                 "MSP_AGENT_RELEASE_KEY": release_key,
                 "MSP_AGENT_CURRENT_SYSTEM": str(h.current_system),
                 "MSP_AGENT_NIXOS": "0",
                 "MSP_AGENT_EXEC_ARGS": "version",
                 "PYTHONDONTWRITEBYTECODE": "1"}}
    h.cfg["agent_env"] = h.agent_env()
    h.save()
    scripts = {"systemctl": SYSTEMCTL.format(python=sys.executable, cfg=str(h.cfg_file)),
               "nixos-rebuild": NIXOS_REBUILD.format(python=sys.executable, cfg=str(h.cfg_file))}
    for tool in ("journalctl", "nix-collect-garbage", "nix-store", "certbot", "nft", "wg"):
        scripts[tool] = RECORDER.format(python=sys.executable, log=str(h.log))
    for name, text in scripts.items():
        path = h.bin / name
        path.write_text(text)
        path.chmod(0o755)
    return h


async def install_store_release(h: Harness, client: PrivClient, version: str,
                                bundle_bytes: bytes) -> Path:
    """The played NixOS's store package: a release installed outside the releases root (by the
    helper, pointed elsewhere), the program of the agent unit's ExecStart."""
    releases = h.cfg["helper_env"]["MSP_AGENT_RELEASES"]  # type: ignore[index]
    h.set_helper_env(MSP_AGENT_RELEASES=str(h.root / "store"))
    try:
        await install_initial_release(h, client, version, bundle_bytes, link=False)
    finally:
        h.set_helper_env(MSP_AGENT_RELEASES=releases)
    program = h.root / "store" / "releases" / version / "bin" / "msp-agent"
    h.nixos(program)
    return program


async def install_initial_release(h: Harness, client: PrivClient, version: str,
                                  bundle_bytes: bytes, *, link: bool = True) -> None:
    """What an installation does once: a release installed by the helper and made current."""
    archive = h.root / "initial.tar"
    archive.write_bytes(bundle_bytes)
    staging = h.state_dir / "update-staging"
    staging.mkdir(mode=0o700, exist_ok=True)
    unpack(archive, staging / "initial", 1 << 28)
    res = await client.run("agent-install", {"bundle": "initial", "version": version})
    shutil.rmtree(staging)
    if not res.ok:
        raise RuntimeError(f"initial install failed: {res.error}: {res.stdout[-1500:]}")
    if link:
        os.symlink(f"releases/{version}", h.releases / "current")
