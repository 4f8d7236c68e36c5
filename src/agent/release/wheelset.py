"""The wheels of one release: read them, and check the set is complete and for one machine.

A set makes a release when it holds exactly one ``msp-agent`` wheel (its version is the
release's), no project twice, and a wheel for every requirement reachable from ours through the
wheels' ``Requires-Dist`` lines whose markers hold on the target (this interpreter's environment,
or the Python version given, with the set's machine, Linux; extras only where a requirement asks
for them), each wheel's version within the requirement's range. Every wheel must install on that
CPython version (``cp311-abi3``, ``cp311-cp311``, ``py3-none`` … for 3.11). Platform wheels must
all be for one Linux machine (``manylinux_2_17_x86_64``, ``musllinux_1_2_aarch64``,
``linux_x86_64`` …), and not both manylinux-only and musllinux-only ones; pure wheels go
anywhere. Wheels nothing requires are reported, not refused.
"""

from __future__ import annotations

import email.parser
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from agent.release import ReleaseError

AGENT = canonicalize_name("msp-agent")
_LINUX = re.compile(r"(?:linux|manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|"
                    r"musllinux_\d+_\d+)_([a-z0-9_]+)", re.ASCII)
_MACHINE = re.compile(r"[a-z0-9_]{1,32}", re.ASCII)  # the manifest's rule (agent.priv.bundle)
_METADATA = re.compile(r"[^/]+\.dist-info/METADATA")
MAX_METADATA = 1 << 20


@dataclass(frozen=True, slots=True)
class WheelInfo:
    path: Path
    name: NormalizedName
    version: Version
    machine: str | None  # None: a pure wheel
    requires: tuple[Requirement, ...]
    pythons: frozenset[tuple[str, str]]  # (interpreter, abi) of its tags: ("cp311", "abi3")
    libcs: frozenset[str]  # "glibc" (manylinux), "musl" (musllinux); empty: either


@dataclass(frozen=True, slots=True)
class Release:
    agent: WheelInfo
    machine: str
    wheels: tuple[WheelInfo, ...]
    unused: tuple[str, ...]  # wheels nothing requires


def collect(paths: list[Path]) -> list[Path]:
    """The wheel files named: files as given, directories by their ``*.whl``."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            wheels = sorted(path.glob("*.whl"))
            if not wheels:
                raise ReleaseError(f"no wheels (*.whl) in {path}")
            found.update(dict.fromkeys(p.resolve() for p in wheels))
        elif path.name.endswith(".whl") and path.exists():
            found[path.resolve()] = None
        else:
            raise ReleaseError(f"{path} is neither a wheel file nor a directory of wheels")
    return list(found)


def read(path: Path) -> WheelInfo:
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise ReleaseError(f"{path.name}: not a wheel's file name ({exc})") from None
    machines = {_machine(path.name, t.platform) for t in tags}
    if len(machines) != 1:
        raise ReleaseError(f"{path.name}: tagged for more than one machine")
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if _METADATA.fullmatch(n)]
            if len(names) != 1:
                raise ReleaseError(f"{path.name}: no single .dist-info/METADATA in the wheel")
            with zf.open(names[0]) as fh:
                raw = fh.read(MAX_METADATA + 1)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ReleaseError(f"{path.name}: cannot read the wheel ({exc})") from None
    if len(raw) > MAX_METADATA:
        raise ReleaseError(f"{path.name}: its METADATA is too large")
    meta = email.parser.BytesHeaderParser().parsebytes(raw)
    if canonicalize_name(str(meta.get("Name", ""))) != name:
        raise ReleaseError(f"{path.name}: its METADATA names another project "
                           f"({meta.get('Name')!r})")
    try:
        requires = tuple(Requirement(str(r)) for r in meta.get_all("Requires-Dist", []))
    except InvalidRequirement as exc:
        raise ReleaseError(f"{path.name}: a Requires-Dist line does not parse ({exc})") from None
    libcs = frozenset("musl" if t.platform.startswith("musllinux") else "glibc"
                      for t in tags if t.platform.startswith(("manylinux", "musllinux")))
    return WheelInfo(path, name, version, machines.pop(), requires,
                     frozenset((t.interpreter, t.abi) for t in tags), libcs)


def _machine(file: str, platform: str) -> str | None:
    if platform == "any":
        return None
    match = _LINUX.fullmatch(platform)
    if match is None:
        raise ReleaseError(f"{file}: not a Linux wheel (platform tag {platform})")
    return match.group(1)


def check(wheels: list[WheelInfo], machine: str | None = None,
          python: tuple[int, int] | None = None) -> Release:
    """The release the set makes for ``machine`` (default: the wheels') and CPython ``python``
    (default: this interpreter's), or :class:`ReleaseError` naming every problem found."""
    by_name: dict[NormalizedName, WheelInfo] = {}
    for w in wheels:
        if w.name in by_name:
            raise ReleaseError(f"two wheels of {w.name}: {by_name[w.name].path.name} and "
                               f"{w.path.name}" + (" (exactly one msp-agent wheel makes a "
                                                   "release)" if w.name == AGENT else ""))
        by_name[w.name] = w
    agent = by_name.get(AGENT)
    if agent is None:
        raise ReleaseError("no msp-agent wheel among the wheels")
    target = _one_machine(wheels, machine)
    version = python or (sys.version_info.major, sys.version_info.minor)
    env = _environment(target, version)
    installable = {(t.interpreter, t.abi) for t in (*cpython_tags(version, platforms=["_"]),
                                                     *compatible_tags(version, platforms=["_"]))}
    problems = [f"{w.path.name} does not install on CPython {env['python_version']}"
                for w in wheels if not w.pythons & installable]
    needed = {AGENT}
    todo: list[tuple[WheelInfo, str]] = [(agent, "")]
    seen: set[tuple[NormalizedName, str]] = set()
    while todo:
        wheel, extra = todo.pop()
        if (wheel.name, extra) in seen:
            continue
        seen.add((wheel.name, extra))
        for req in wheel.requires:
            if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
                continue
            dep = by_name.get(canonicalize_name(req.name))
            who = f"{wheel.name} {wheel.version}" + (f" [{extra}]" if extra else "")
            if dep is None:
                problems.append(f"missing: {req} (required by {who})")
                continue
            if req.specifier and not req.specifier.contains(dep.version, prereleases=True):
                problems.append(f"{dep.path.name} does not satisfy {req} (required by {who})")
            needed.add(dep.name)
            todo.extend((dep, e) for e in ("", *sorted(req.extras)))
    if problems:
        raise ReleaseError("the wheels do not make a release:\n" + "\n".join(problems))
    unused = tuple(sorted(w.path.name for w in wheels if w.name not in needed))
    return Release(agent, target, tuple(sorted(wheels, key=lambda w: w.path.name)), unused)


def _environment(machine: str, python: tuple[int, int]) -> dict[str, str]:
    """The marker environment of the target: Linux on ``machine``, CPython ``python`` (this
    interpreter's values where they are the same Python)."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    env.update(platform_machine=machine, sys_platform="linux", platform_system="Linux",
               os_name="posix")
    if python != (sys.version_info.major, sys.version_info.minor):
        dotted = f"{python[0]}.{python[1]}"
        env.update(python_version=dotted, python_full_version=f"{dotted}.0")
    return env


def _one_machine(wheels: list[WheelInfo], machine: str | None) -> str:
    found = {w.machine for w in wheels if w.machine is not None}
    if len(found) > 1:
        detail = ", ".join(f"{w.path.name} ({w.machine})" for w in wheels if w.machine)
        raise ReleaseError(f"the wheels are for more than one machine: {detail}")
    if any(w.libcs == {"glibc"} for w in wheels) and any(w.libcs == {"musl"} for w in wheels):
        raise ReleaseError("the wheels mix manylinux (glibc) and musllinux (musl) builds: "
                           + ", ".join(w.path.name for w in wheels if w.libcs))
    if machine is not None and not _MACHINE.fullmatch(machine):
        raise ReleaseError(f"not a machine name like x86_64 or aarch64: {machine!r}")
    if machine is not None and found and found != {machine}:
        raise ReleaseError(f"the wheels are for {found.pop()}, not {machine}")
    if machine is None and not found:
        raise ReleaseError("every wheel is pure: say which machine the release is for "
                           "(--machine)")
    return machine if machine is not None else found.pop()
