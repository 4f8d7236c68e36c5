"""Release tooling for the local Central Command: wheels and signed release bundles.

:func:`wheel` writes a minimal, valid wheel (``.dist-info`` with METADATA, WHEEL,
``entry_points.txt`` and RECORD) from a few files; :func:`bundle` packs wheels into an msp-agent
release bundle (``agent.priv.bundle``) whose manifest is signed with the release key. The demo and
the tests build the releases they install with these.
"""

from __future__ import annotations

import base64
import hashlib
import io
import platform
import sysconfig
import zipfile

from agent.priv.bundle import Manifest, Wheel, encode, sign, write


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel(name: str, version: str, files: dict[str, str], *,
          scripts: dict[str, str] | None = None, requires: tuple[str, ...] = (),
          tag: str = "py3-none-any") -> tuple[str, bytes]:
    """(file name, bytes) of a wheel holding ``files`` (path -> text) and console ``scripts``
    (name -> ``module:function``), with ``Requires-Dist`` lines ``requires``, tagged ``tag``."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    members = dict(files)
    members[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    members[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: msp-agent-central\n"
                                f"Root-Is-Purelib: true\nTag: {tag}\n")
    if scripts:
        members[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())
    record = "".join(f"{p},{_digest(t.encode())},{len(t.encode())}\n" for p, t in members.items())
    members[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in members.items():
            zf.writestr(path, text)
    return f"{dist}-{version}-{tag}.whl", buf.getvalue()


def bundle(version: str, wheels: list[tuple[str, bytes]], release_seed: bytes, *,
           machine: str, allow_downgrade: bool = False, state_format: int = 1,
           tamper: bool = False) -> bytes:
    """An msp-agent release bundle (tar), the manifest signed with ``release_seed`` — written by
    :mod:`agent.priv.bundle` like ``msp-agent release build`` writes one, without its checks of
    the wheel set. ``tamper``: sign, then alter the manifest (a bundle whose signature must not
    verify)."""
    manifest = Manifest(version, machine, tuple(
        Wheel(n, hashlib.sha256(d).hexdigest(), len(d)) for n, d in wheels),
        allow_downgrade, state_format)
    raw = encode(manifest)
    sig = sign(raw, release_seed)
    if tamper:
        raw = raw.replace(b'"allow_downgrade": false', b'"allow_downgrade": true ')
    buf = io.BytesIO()
    write(buf, raw, sig, wheels)
    return buf.getvalue()


def dev_release(version: str, seed: bytes, *, crashes: bool = False, tamper: bool = False,
                allow_downgrade: bool = False, silent: bool = False) -> bytes:
    """A release of **this installation's** code at ``version`` (demo and tests): one small wheel
    named ``msp-agent`` whose ``.pth`` file adds this interpreter's site-packages, so its
    ``msp-agent`` and ``msp-agent-priv`` scripts run the real agent and helper and it reports its
    own version (its distribution's metadata). ``crashes``: its ``msp-agent`` exits at once."""
    site = sysconfig.get_paths()["purelib"]
    files = {"msp_agent_release.pth": f"import site; site.addsitedir({site!r})\n"}
    scripts = {"msp-agent": "agent.cli:main", "msp-agent-priv": "agent.priv.helper:main"}
    if crashes:
        files["msp_agent_crash.py"] = ("def main():\n"
                                       "    raise SystemExit('release crashes on start')\n")
        scripts["msp-agent"] = "msp_agent_crash:main"
    elif silent:
        files["msp_agent_silent.py"] = "def main():\n    return 0\n"
        scripts["msp-agent"] = "msp_agent_silent:main"
    return bundle(version, [wheel("msp-agent", version, files, scripts=scripts)], seed,
                  machine=platform.machine(), tamper=tamper, allow_downgrade=allow_downgrade)
