"""``python -m agent provision`` as an operator runs it, logging at DEBUG: it provisions, refuses
to replace a config, and no private material (the identity key, the API key it received, the
provision code) appears in anything it prints."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.conftest import ROOT, clean_env
from tests.provision.conftest import FACTS, MAC, SITE, Image

from agent.central import CentralCommand
from agent.config import load_config


async def _cli(image: Image, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "provision", "--installer-dir", str(image.root),
        "--config", str(image.config), "--state-dir", str(image.state), "--mac", MAC,
        "--hardware-id", FACTS.hardware_id or "", "--log-level", "DEBUG", "--log-format", "json",
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=clean_env(PYTHONPATH=str(ROOT)))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


def _private(image: Image) -> list[str]:
    """Private material on the appliance after provisioning."""
    seed = (image.state / "agent.key").read_text().strip()
    envelope = json.loads((image.state / "encryption_keypair.json").read_text())["private_key"]
    api_key = load_config(image.config, environ={}).config.api_key
    return [seed, envelope, api_key, (image.state / "keys" / "signing.key").read_bytes().hex()]


async def test_cli_provisions_and_prints_no_private_material(image: Image, cc: CentralCommand) -> None:
    code, out = await _cli(image)
    assert code == 0, out
    assert f"provisioned by claim_v2: site {SITE}" in out
    assert "provision.done" in out  # the log lines are there, at DEBUG
    for secret in _private(image):
        assert secret not in out
    code, again = await _cli(image)
    assert code == 1 and "already exists" in again and "--force" in again
    for secret in _private(image):
        assert secret not in again


async def test_cli_provision_code_never_printed(image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    code_file = image.tmp / "code.txt"
    provision_code = cc.provisioning.create_provision_code("code-site")
    code_file.write_text(provision_code + "\n")
    code, out = await _cli(image, "--provision-code-file", str(code_file))
    assert code == 0, out
    assert "provisioned by provision_code" in out
    assert provision_code not in out and provision_code.lower() not in out
    for secret in _private(image):
        assert secret not in out


async def test_cli_refusal_names_the_reason(image: Image, cc: CentralCommand) -> None:
    image.write_cert(valid_for_s=-60)
    code, out = await _cli(image)
    assert code == 1 and "provisioning refused (claim_cert_expired)" in out
    assert not image.config.exists()
