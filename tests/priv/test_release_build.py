"""``msp-agent release build`` / ``release keygen`` (issue 22): a release bundle built from real
wheel files — our wheel built by ``pip wheel`` from a tiny project, its dependency and the
dependency's own dependency — verified by the helper's code, installed through the real helper
program by ``tools/release_smoke.py`` (the played service manager, a real venv and pip), and the
installed entry point run; and every refusal: an incomplete, doubled or mixed wheel set, an
unreadable wheel, a key file open to others."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from agent.central.releases import wheel
from agent.cli import main
from agent.priv.bundle import unpack, verify
from agent.release.keyfile import public_hex, read_seed

ROOT = Path(__file__).resolve().parents[2]
MACHINE = platform.machine()
OTHER_MACHINE = "aarch64" if MACHINE != "aarch64" else "x86_64"

PROJECT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "msp-agent"
        version = "1.2.0"
        # the Windows-only and the docs-only ones are not needed on a Linux appliance
        dependencies = ["tinydep>=1.0", "winonly; sys_platform == 'win32'"]

        [project.optional-dependencies]
        docs = ["docthing"]

        [project.scripts]
        msp-agent = "agent.cli:main"

        [tool.setuptools]
        packages = ["agent"]
        """,
    "agent/__init__.py": '__version__ = "1.2.0"\n',
    "agent/cli.py": """
        import json
        import sys

        import tinydep

        def main():
            print(json.dumps({"version": "1.2.0", "native_core": False, "argv": sys.argv[1:],
                              "dep": tinydep.value()}))
        """,
}


def dep(version: str = "1.1", requires: tuple[str, ...] = ("tinyleaf",)) -> tuple[str, bytes]:
    """The agent's dependency: a platform wheel for this machine, needing ``tinyleaf``."""
    return wheel("tinydep", version, {"tinydep.py": "import tinyleaf\n\ndef value():\n"
                                      "    return tinyleaf.LEAF * 6\n"},
                 requires=requires, tag=f"py3-none-linux_{MACHINE}")


LEAF = wheel("tinyleaf", "2.0", {"tinyleaf.py": "LEAF = 7\n"})


@pytest.fixture(scope="module")
def agent_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """msp_agent-1.2.0-py3-none-any.whl, built by pip (setuptools) from the tiny project."""
    root = tmp_path_factory.mktemp("agentwheel")
    for name, text in PROJECT.items():
        (root / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "src" / name).write_text(textwrap.dedent(text))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(root / "out"), str(root / "src")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    (path,) = (root / "out").glob("*.whl")
    assert path.name == "msp_agent-1.2.0-py3-none-any.whl"
    return path


@pytest.fixture
def wheels(tmp_path: Path, agent_wheel: Path) -> Path:
    """A complete wheel set in a directory."""
    d = tmp_path / "wheels"
    d.mkdir()
    shutil.copy(agent_wheel, d)
    for name, data in (dep(), LEAF):
        (d / name).write_bytes(data)
    return d


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "release.key"
    assert main(["release", "keygen", "--out", str(path)]) == 0
    capsys.readouterr()
    return path


def build(*args: str | Path) -> int:
    return main(["release", "build", *map(str, args)])


def test_a_built_bundle_verifies_installs_through_the_helper_and_runs(
        tmp_path: Path, wheels: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "msp-agent-1.2.0.tar"
    assert build("--wheel", wheels, "--key-file", key, "--out", out, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    pub = public_hex(read_seed(key))
    assert doc["version"] == "1.2.0" and doc["machine"] == MACHINE and doc["wheels"] == 3
    assert doc["release_public_key"] == pub and doc["unused_wheels"] == []
    assert doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert out.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["wheels", "release.key", out.name])  # no temporary file left

    # the helper's own verification
    unpack(out, tmp_path / "unpacked", 1 << 26)
    manifest = verify(tmp_path / "unpacked", pub, MACHINE)
    assert (manifest.version, manifest.machine, manifest.allow_downgrade,
            manifest.state_format) == ("1.2.0", MACHINE, False, 1)
    assert sorted(w.file for w in manifest.wheels) == sorted(p.name for p in wheels.iterdir())

    # installed by the real helper program (tools/release_smoke.py, CI's driver), then run
    smoke = subprocess.run([sys.executable, str(ROOT / "tools" / "release_smoke.py"), str(out),
                            "--release-key", pub, "--version", "1.2.0",
                            "--root", str(tmp_path / "sys")],
                           capture_output=True, text=True, timeout=600, check=False)
    assert smoke.returncode == 0, smoke.stderr
    assert "installed by the helper (3 distributions)" in smoke.stdout
    release = tmp_path / "sys" / "sys" / "opt" / "releases" / "1.2.0"
    assert (release / ".msp-release.json").is_file()
    ran = subprocess.run([str(release / "bin" / "msp-agent"), "status"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path, check=False)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"version": "1.2.0", "native_core": False,
                                      "argv": ["status"], "dep": 42}


def test_the_smoke_driver_fails_a_release_without_the_native_core(
        tmp_path: Path, wheels: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CI driver can fail: it asks for the native core, which the tiny release lacks."""
    out = tmp_path / "b.tar"
    assert build("--wheel", wheels, "--key-file", key, "--out", out) == 0
    smoke = subprocess.run([sys.executable, str(ROOT / "tools" / "release_smoke.py"), str(out),
                            "--release-key", public_hex(read_seed(key)), "--version", "1.2.0",
                            "--native", "--root", str(tmp_path / "sys")],
                           capture_output=True, text=True, timeout=600, check=False)
    assert smoke.returncode == 1 and "native core is not in use" in smoke.stderr


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path, wheels: Path, key: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert build("--wheel", wheels, "--key-file", key, "--out", tmp_path / "a.tar") == 0
    for p in wheels.iterdir():
        os.utime(p, (1, 1))  # other file times, files given one by one, in another order
    files = sorted(wheels.iterdir(), reverse=True)
    assert build(*[x for p in files for x in ("--wheel", p)], "--key-file", key,
                 "--out", tmp_path / "b.tar") == 0
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["manifest.json", "manifest.sig", *(
        f"wheels/{p.name}" for p in sorted(wheels.iterdir()))]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {
        (946684800, 0, 0, "", 0o644)}
    assert build("--wheel", wheels, "--key-file", key, "--out", tmp_path / "c.tar",
                 "--allow-downgrade", "--state-format", "2") == 0
    unpack(tmp_path / "c.tar", tmp_path / "c", 1 << 26)
    manifest = verify(tmp_path / "c", public_hex(read_seed(key)), MACHINE)
    assert manifest.allow_downgrade and manifest.state_format == 2


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    out = tmp_path / "refused.tar"
    assert build(*args, "--out", out) == 2
    assert not out.exists() and not list(tmp_path.glob(".refused.tar.*"))
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_a_missing_dependency_is_refused_by_name(tmp_path: Path, wheels: Path, key: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (wheels / dep()[0]).unlink()
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key, "--machine", MACHINE)
    assert "missing: tinydep>=1.0 (required by msp-agent 1.2.0)" in err
    assert "winonly" not in err and "docthing" not in err  # markers that exclude Linux


def test_a_missing_dependency_of_a_dependency_is_refused(
        tmp_path: Path, wheels: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (wheels / LEAF[0]).unlink()
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert "missing: tinyleaf (required by tinydep 1.1)" in err


def test_a_dependency_outside_its_range_is_refused(
        tmp_path: Path, wheels: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (wheels / dep()[0]).unlink()
    name, data = dep("0.9")
    (wheels / name).write_bytes(data)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert f"{name} does not satisfy tinydep>=1.0" in err


def test_an_extra_a_requirement_asks_for_is_followed(
        tmp_path: Path, agent_wheel: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tinydep[fast] is not required, so its ``extra == 'fast'`` dependency is not needed; a
    wheel nothing needs is named, not refused."""
    name, data = dep(requires=("tinyleaf", "speedup; extra == 'fast'"))
    d = tmp_path / "w"
    d.mkdir()
    (d / name).write_bytes(data)
    (d / LEAF[0]).write_bytes(LEAF[1])
    (d / "stray-1.0-py3-none-any.whl").write_bytes(wheel("stray", "1.0", {"s.py": ""})[1])
    assert build("--wheel", d, "--wheel", agent_wheel, "--key-file", key,
                 "--out", tmp_path / "ok.tar") == 0
    assert "note: stray-1.0-py3-none-any.whl is required by nothing" in capsys.readouterr().out
    leafy = wheel("tinyleaf", "2.0", {"tinyleaf.py": "LEAF = 7\n"}, requires=("tinydep[fast]",))
    (d / LEAF[0]).write_bytes(leafy[1])
    err = _refused(tmp_path, capsys, "--wheel", d, "--wheel", agent_wheel, "--key-file", key)
    assert "missing: speedup; extra == \"fast\" (required by tinydep 1.1 [fast])" in err


def test_two_agent_wheels_are_refused(tmp_path: Path, wheels: Path, key: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    name, data = wheel("msp-agent", "1.3.0", {"x.py": ""})
    (wheels / name).write_bytes(data)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert "two wheels of msp-agent" in err and "exactly one msp-agent wheel" in err


def test_no_agent_wheel_is_refused(tmp_path: Path, wheels: Path, key: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (wheels / "msp_agent-1.2.0-py3-none-any.whl").unlink()
    assert "no msp-agent wheel" in _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)


def test_wheels_for_two_machines_are_refused(tmp_path: Path, wheels: Path, key: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    name, data = wheel("other", "1.0", {"o.py": ""}, tag=f"cp311-abi3-manylinux_2_17_{OTHER_MACHINE}")
    (wheels / name).write_bytes(data)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert "more than one machine" in err and f"{name} ({OTHER_MACHINE})" in err
    (wheels / name).unlink()
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key,
                   "--machine", OTHER_MACHINE)
    assert f"the wheels are for {MACHINE}, not {OTHER_MACHINE}" in err
    musl = wheel("muslthing", "1.0", {"m.py": ""}, tag=f"cp311-abi3-musllinux_1_2_{MACHINE}")
    glibc = wheel("glibcthing", "1.0", {"g.py": ""}, tag=f"cp311-abi3-manylinux_2_17_{MACHINE}")
    for name, data in (musl, glibc):
        (wheels / name).write_bytes(data)
    assert "mix manylinux (glibc) and musllinux (musl)" in _refused(
        tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    (wheels / glibc[0]).unlink()
    (wheels / musl[0]).unlink()
    win = wheel("winthing", "1.0", {"w.py": ""}, tag="cp311-abi3-win_amd64")
    (wheels / win[0]).write_bytes(win[1])
    assert "not a Linux wheel" in _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)


def test_a_wheel_for_another_python_is_refused_unless_that_python_is_named(
        tmp_path: Path, wheels: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nxt = f"3.{sys.version_info.minor + 1}"
    tag = f"cp3{sys.version_info.minor + 1}"
    name, data = wheel("fast", "1.0", {"f.py": ""}, tag=f"{tag}-{tag}-manylinux_2_17_{MACHINE}")
    (wheels / name).write_bytes(data)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert f"{name} does not install on CPython 3.{sys.version_info.minor}" in err
    assert build("--wheel", wheels, "--key-file", key, "--python", nxt,
                 "--out", tmp_path / "next.tar") == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        build("--wheel", wheels, "--key-file", key, "--python", "three", "--out", tmp_path / "x")
    assert exc.value.code == 2


def test_pure_wheels_need_the_machine_named(tmp_path: Path, agent_wheel: Path, key: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "w"
    d.mkdir()
    shutil.copy(agent_wheel, d)
    for name, data in (wheel("tinydep", "1.1", {"tinydep.py": ""}), LEAF):
        (d / name).write_bytes(data)
    assert "--machine" in _refused(tmp_path, capsys, "--wheel", d, "--key-file", key)
    assert "not a machine name" in _refused(tmp_path, capsys, "--wheel", d, "--key-file", key,
                                            "--machine", "x86-64")
    assert build("--wheel", d, "--key-file", key, "--machine", OTHER_MACHINE,
                 "--out", tmp_path / "pure.tar") == 0
    unpack(tmp_path / "pure.tar", tmp_path / "u", 1 << 26)
    assert verify(tmp_path / "u", public_hex(read_seed(key)), OTHER_MACHINE).machine == \
        OTHER_MACHINE


@pytest.mark.parametrize("content, why", [
    (b"not a zip archive", "cannot read the wheel"),
    (None, "no single .dist-info/METADATA"),
])
def test_an_unreadable_wheel_is_refused(tmp_path: Path, wheels: Path, key: Path,
                                        capsys: pytest.CaptureFixture[str], content: bytes | None,
                                        why: str) -> None:
    path = wheels / "broken-1.0-py3-none-any.whl"
    if content is None:
        import zipfile

        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("broken.py", "")
    else:
        path.write_bytes(content)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert f"broken-1.0-py3-none-any.whl: {why}" in err
    assert "is neither a wheel" in _refused(tmp_path, capsys, "--wheel", tmp_path / "nothing.whl",
                                            "--key-file", key)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_open_to_others_is_refused(tmp_path: Path, wheels: Path, key: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              mode: int) -> None:
    key.chmod(mode)
    err = _refused(tmp_path, capsys, "--wheel", wheels, "--key-file", key)
    assert f"open to its group or others (mode {mode:04o})" in err
    assert read_seed_text(key) not in err


def read_seed_text(path: Path) -> str:
    return path.read_text().strip()


def test_keys_raw_or_hex_and_never_printed(tmp_path: Path, wheels: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    hexkey = tmp_path / "hex.key"
    assert main(["release", "keygen", "--out", str(hexkey)]) == 0
    out = capsys.readouterr().out
    assert hexkey.stat().st_mode & 0o777 == 0o600
    seed_hex = read_seed_text(hexkey)
    assert len(seed_hex) == 64 and seed_hex not in out
    assert f"release_public_key: {public_hex(bytes.fromhex(seed_hex))}" in out
    # never overwritten
    assert main(["release", "keygen", "--out", str(hexkey)]) == 1
    assert "never overwritten" in capsys.readouterr().err and read_seed_text(hexkey) == seed_hex
    # the same seed as 32 raw bytes signs the same bundle
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes.fromhex(seed_hex))
    raw.chmod(0o600)
    assert build("--wheel", wheels, "--key-file", hexkey, "--out", tmp_path / "a.tar") == 0
    assert build("--wheel", wheels, "--key-file", raw, "--out", tmp_path / "b.tar") == 0
    printed = capsys.readouterr()
    assert seed_hex not in printed.out + printed.err
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    raw.write_bytes(b"short")
    assert "neither 64 hex digits nor a 32-byte seed" in _refused(
        tmp_path, capsys, "--wheel", wheels, "--key-file", raw)
    assert "cannot read the key file" in _refused(
        tmp_path, capsys, "--wheel", wheels, "--key-file", tmp_path / "absent.key")


MODULES = """
import json, sys
from agent.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""

#: What building a release never imports: the daemon and its libraries.
DAEMON = ("agent.runtime", "agent.wiring", "agent.uplink", "agent.transport", "agent.orders",
          "agent.update", "agent.config", "agent.state", "agent.central", "aiohttp", "uvloop",
          "msgspec", "yaml")


def test_building_a_release_imports_nothing_of_the_daemon(tmp_path: Path, wheels: Path,
                                                          key: Path) -> None:
    dump = tmp_path / "modules.json"
    r = subprocess.run([sys.executable, "-c", MODULES, str(dump), "release", "build", "--wheel",
                        str(wheels), "--key-file", str(key), "--out", str(tmp_path / "b.tar")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(dump.read_text())
    assert doc["code"] == 0 and "agent.release.build" in doc["modules"]
    assert [m for m in doc["modules"] if any(m == d or m.startswith(d + ".") for d in DAEMON)] == []


def test_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["release", "--help"], ["release", "build", "--help"],
                 ["release", "keygen", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
    assert "binary_sha256" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["release", "build", "--out", "x.tar"])
    assert exc.value.code == 2
