"""Runbook identity: which of the agent's runbooks a runbook id from Central Command means.

Central Command names runbooks from its own catalogue (the L2 planner's ``AVAILABLE_RUNBOOKS``,
``RB-BACKUP-001`` …; the runbooks table, ``RB-WIN-FIREWALL-001`` …), and those ids are generic: one
server id stands for a whole family of fixes. Which fix is meant depends on the finding, so the
table below is keyed by **(server runbook id, check type)** and every entry was reviewed: the
agent runbook must remediate exactly that check type. A pair without an entry is refused with a
reason; nothing is guessed from names or prefixes (``RB-AV-001`` for ``linux_ssh_config`` is
refused, ``RB-BACKUP-001`` for ``linux_backup_status`` runs ``LIN-BACKUP-001``).

An id that is one of the agent's own runbooks resolves to itself, but only for a check type the
runbook declares. See docs/server-compat.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from agent.runbooks.model import Runbook


class RunbookLookup(Protocol):
    """What resolution needs of a registry (:class:`agent.runbooks.registry.RunbookRegistry`)."""

    def get(self, runbook_id: str) -> Runbook | None: ...

#: (server runbook id, check type) -> agent runbook id. Reviewed entries only (see the module
#: docstring); tests/runbooks/test_aliases.py proves each target declares its check type.
ALIASES: Final[dict[tuple[str, str], str]] = {
    # the L2 planner's catalogue (l2_planner.py AVAILABLE_RUNBOOKS)
    ("RB-BACKUP-001", "linux_backup_status"): "LIN-BACKUP-001",
    ("RB-CERT-001", "linux_cert_expiry"): "LIN-CERT-001",
    ("RB-DISK-001", "linux_disk_space"): "LIN-DISK-001",
    ("RB-SERVICE-001", "linux_failed_services"): "LIN-SVC-001",
    ("RB-FIREWALL-001", "linux_firewall"): "LIN-FW-001",
    ("RB-FIREWALL-001", "firewall_status"): "RB-WIN-SEC-001",
    ("RB-FIREWALL-001", "macos_firewall"): "MAC-FW-001",
    ("RB-PATCH-001", "linux_unattended_upgrades"): "LIN-PATCH-001",
    ("RB-PATCH-001", "macos_auto_update"): "MAC-UPD-001",
    ("RB-AV-001", "windows_defender"): "RB-WIN-SEC-006",
    ("RB-LOGGING-001", "linux_audit_logging"): "LIN-SVC-002",
    ("RB-LOGGING-001", "linux_log_forwarding"): "LIN-LOG-001",
    ("RB-LOGGING-001", "audit_logging"): "RB-WIN-SVC-006",
    ("RB-DRIFT-001", "linux_file_permissions"): "LIN-PERM-001",
    # the server's runbooks table (the Go daemon's catalogue ids)
    ("RB-WIN-FIREWALL-001", "firewall_status"): "RB-WIN-SEC-001",
    ("RB-WIN-AV-001", "windows_defender"): "RB-WIN-SEC-006",
    ("RB-WIN-LOGGING-001", "audit_logging"): "RB-WIN-SVC-006",
}

#: Entries that differ for a finding on the appliance itself (label ``appliance``: its own
#: watched files, fixed without privilege by APPL-PERM-001, never by the host runbook; its backup
#: unit and certificates, fixed through the privileged helper, since the local executor runs
#: nothing as root).
APPLIANCE_ALIASES: Final[dict[tuple[str, str], str]] = {
    ("RB-DRIFT-001", "linux_file_permissions"): "APPL-PERM-001",
    ("LIN-PERM-001", "linux_file_permissions"): "APPL-PERM-001",
    ("LIN-BACKUP-001", "linux_backup_status"): "APPL-BACKUP-001",
    ("LIN-CERT-001", "linux_cert_expiry"): "APPL-CERT-001",
}


def for_target(registry: RunbookLookup, runbook_id: str, check_type: str,
               label: str) -> Runbook | None:
    """The runbook an L1 rule naming ``runbook_id`` runs for a finding on a target labelled
    ``label`` (the appliance's own variant first)."""
    if label == "appliance" and (runbook_id, check_type) in APPLIANCE_ALIASES:
        rb = registry.get(APPLIANCE_ALIASES[runbook_id, check_type])
        if rb is not None:
            return rb
    return registry.get(runbook_id)

#: Server runbook ids the agent knows of (named in the table above, or in the server's
#: catalogue without a fitting agent runbook yet): refused as "no mapping" rather than "unknown".
SERVER_RUNBOOKS: Final = frozenset({
    *(k[0] for k in ALIASES),
    "RB-ENCRYPTION-001", "RB-WIN-PERSIST-001", "RB-WIN-PERSIST-002", "RB-WIN-BACKUP-001",
    "RB-WIN-SEC-018",
})


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a (runbook id, check type) pair does not resolve: ``code`` is short and stable
    (``unknown_runbook``, ``no_mapping``, ``check_type_mismatch``), ``detail`` says it in words."""

    code: str
    detail: str


def resolve(registry: RunbookLookup, runbook_id: str, check_type: str,
            label: str = "") -> Runbook | Refusal:
    """The agent runbook that ``runbook_id`` means for a finding of ``check_type`` (``label``:
    the finding's target label; ``appliance`` selects :data:`APPLIANCE_ALIASES` first)."""
    if label == "appliance" and (runbook_id, check_type) in APPLIANCE_ALIASES:
        rb = registry.get(APPLIANCE_ALIASES[runbook_id, check_type])
        if rb is not None:
            return rb
    own = registry.get(runbook_id)
    if own is not None:
        if own.check_types and check_type not in own.check_types:
            return Refusal("check_type_mismatch",
                           f"runbook {runbook_id} does not remediate {check_type}")
        return own
    target = ALIASES.get((runbook_id, check_type))
    if target is not None:
        rb = registry.get(target)
        if rb is not None and (not rb.check_types or check_type in rb.check_types):
            return rb
        return Refusal("no_mapping", f"runbook {target} (for {runbook_id}) is not available")
    if runbook_id in SERVER_RUNBOOKS:
        return Refusal("no_mapping", f"server runbook {runbook_id} has no reviewed agent runbook "
                                     f"for check type {check_type}")
    return Refusal("unknown_runbook", f"runbook {runbook_id} is neither an agent runbook nor a "
                                      "known server runbook")
