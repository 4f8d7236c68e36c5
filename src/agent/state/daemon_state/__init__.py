"""``daemon_state.json`` (runtime.md §3.2, §3.3; healing.md §4.4–§4.6, §6.1).

The file keeps the Go daemon's top-level keys and types, so a rollback to the Go daemon keeps its
cooldowns and scan times:

* ``linux_targets`` — ``{hostname, port, username, label}`` only; the secrets live in
  ``credentials.sealed``;
* ``l2_mode``, ``subscription_status`` — strings (empty = not received);
* ``cooldowns`` — ``{"<host>:<check_type>": {"last_seen": RFC 3339, "count": int,
  "cooldown_dur": int ns}}`` (the dedup cooldown of healing.md §4.4);
* ``last_successful_scan`` — ``{"<host>": RFC 3339}``; ``saved_at`` — RFC 3339;
* ``agent_ext`` — ours: schema version, L1 rule cooldowns, dedup discriminator sets, exhaustion,
  recurrence and suspension counters, the per-host scan schedule, ``adopted_from_go_at``.

Timestamps are written in UTC with nanosecond precision; any RFC 3339 form is read. Keys we do not
know (top level and inside ``agent_ext``) are kept on rewrite. A file that does not parse is
quarantined (``<name>.corrupt.<ts>``, with any credential values removed — or not kept at all when
they cannot all be found) and the agent runs on with empty state.

:class:`DaemonStatePersistence` ties the file to the live objects through small protocols (the
healing pipeline, the rule engine, the scan scheduler), adopts a Go installation's state (plaintext
Linux credentials into the sealed store, the Go ``healing_journal.json``), and saves after changes
(debounced) and at shutdown.
"""

from agent.state.daemon_state.adoption import (
    GoHeal,
    JournalAppend,
    SealedStore,
    adopt_go_journal,
    move_secrets,
)
from agent.state.daemon_state.document import (
    DEBOUNCE_S,
    DEDUP_IDLE_S,
    GO_JOURNAL_NAME,
    MAX_BYTES,
    SCHEMA_VERSION,
    SECRET_KEYS,
    STATE_NAME,
    TARGET_KEYS,
    AgentExt,
    DaemonState,
    DaemonStateFile,
    DedupEntry,
    GoCooldown,
    HealingCounters,
    HostSchedule,
    StateFormatError,
    decode,
    encode,
    format_rfc3339_ns,
    ns_to_s,
    parse_rfc3339_ns,
    s_to_ns,
)
from agent.state.daemon_state.persistence import (
    Adoption,
    DaemonStatePersistence,
    HealingStateSource,
    RuleCooldownSource,
    ScheduleSource,
)

__all__ = ["DEBOUNCE_S", "DEDUP_IDLE_S", "GO_JOURNAL_NAME", "MAX_BYTES", "SCHEMA_VERSION",
           "SECRET_KEYS", "STATE_NAME", "TARGET_KEYS", "Adoption", "AgentExt", "DaemonState",
           "DaemonStateFile", "DaemonStatePersistence", "DedupEntry", "GoCooldown", "GoHeal",
           "HealingCounters", "HealingStateSource", "HostSchedule", "JournalAppend",
           "RuleCooldownSource", "ScheduleSource", "SealedStore", "StateFormatError",
           "adopt_go_journal", "decode", "encode", "format_rfc3339_ns", "move_secrets", "ns_to_s",
           "parse_rfc3339_ns", "s_to_ns"]
