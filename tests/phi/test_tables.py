"""The native scanner's word tables are generated from agent.phi.rules (one place for each list)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_tables_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_phi_tables.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_generated_dispatch_up_to_date() -> None:
    """csrc/phi_dispatch.h is what tools/gen_phi_dispatch.py computes from csrc/phi_rules.def."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_phi_dispatch.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
