"""What is trusted from each provisioning answer, and the config file made from it.

**MAC lookup** (``GET /api/provision/{mac}``): the only answer the server signs. ``config`` is
verified with Ed25519 against the **pinned** server key (the installer image's
``central-command.pub``, never a key from the network) over ``json.dumps(config,
sort_keys=True)`` (Python's default separators ``", "`` and ``": "``, ASCII escapes: what the
server signs and the Go image's installer verifies). The flat duplicates next to ``config`` are
ignored. Only then are ``site_id``, ``api_key``, ``api_endpoint``, ``appliance_id`` and
``ssh_authorized_keys`` taken from it.

**claim-v2** and **provision code**: unsigned answers (the server signs neither). They are used
only because they came over the pinned TLS connection to the configured endpoint (and, for
claim-v2, because the answer is bound to this appliance's CSR), and only for what they cannot
escalate:

* claim-v2: ``fingerprint`` must equal this appliance's identity fingerprint (the server
  registered *our* key), ``appliance_id`` must be ``<site_id>-<MAC>`` for the site and MAC we
  sent, ``api_key`` must look like a server key (≥ 40 URL-safe characters). ``site_id`` and
  ``api_endpoint`` are ours, never the answer's;
* provision code: ``appliance_id`` must be ``<site_id>-<MAC>``, ``site_id`` must be a plain site
  name, ``api_key`` as above. The answer's ``api_endpoint`` is **not** used (the endpoint stays the
  one we provisioned against); a different one is logged.

No answer ever sets the server's signing key, TLS pins or the state directory: those come from
the installer image or the operator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import ConfigError
from agent.config.load import parse_config
from agent.crypto.keys import KeyFormatError, public_key_from_hex, verify_ed25519
from agent.protocol.provision import ClaimV2Response, MacLookupResponse, ProvisionClaimResponse
from agent.protocol.rekey import is_valid_api_key
from agent.provision.errors import AnswerRefused

_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}", re.ASCII)
_SIG_HEX = re.compile(r"[0-9a-fA-F]{128}", re.ASCII)
#: Keys only the image or the operator set, whatever an answer holds.
_LOCAL_ONLY = frozenset({"state_dir", "server_public_key", "tls_pin_hash"})


@dataclass(frozen=True, slots=True)
class Provisioned:
    """The keys of the config file to write, and how they were obtained."""

    method: str
    site_id: str
    api_key: str
    api_endpoint: str
    appliance_id: str
    extra: dict[str, Any] = field(default_factory=dict)  # signed extras (ssh_authorized_keys)

    def __repr__(self) -> str:  # the api_key never reaches a log line or a traceback
        return (f"Provisioned(method={self.method!r}, site_id={self.site_id!r}, "
                f"appliance_id={self.appliance_id!r}, api_key='***')")


def signed_config_bytes(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True).encode("utf-8")


def _api_key(key: object) -> str:
    if not isinstance(key, str) or not is_valid_api_key(key):
        raise AnswerRefused("bad_answer", "the answer's api_key is missing or not a server key")
    return key


def from_mac_lookup(answer: MacLookupResponse, pinned_key_hex: str | None, *, mac: str) -> Provisioned:
    if answer.config is None:
        raise AnswerRefused("bad_answer", "MAC lookup answered without a config")
    if not pinned_key_hex:
        raise AnswerRefused("no_pinned_key", "no pinned server key to verify the signed config with "
                            "(central-command.pub)")
    if not _SIG_HEX.fullmatch(answer.signature):
        raise AnswerRefused("unsigned", "the MAC lookup config is not signed; refused")
    try:
        key = public_key_from_hex(pinned_key_hex.strip().lower())
    except KeyFormatError:
        raise AnswerRefused("no_pinned_key", "the pinned server key is not 64 hex characters") from None
    if not verify_ed25519(key, signed_config_bytes(answer.config), bytes.fromhex(answer.signature)):
        raise AnswerRefused("bad_signature", "the config's signature does not verify against the "
                            "pinned server key; refused")
    cfg = answer.config
    site_id = cfg.get("site_id")
    endpoint = cfg.get("api_endpoint")
    if not isinstance(site_id, str) or not _SITE_ID.fullmatch(site_id):
        raise AnswerRefused("bad_answer", "the signed config has no valid site_id")
    if not isinstance(endpoint, str) or not endpoint:
        raise AnswerRefused("bad_answer", "the signed config has no api_endpoint")
    appliance_id = cfg.get("appliance_id")
    if appliance_id != f"{site_id}-{mac.upper()}":
        raise AnswerRefused("bad_answer", "the signed config is for another appliance")
    extra = {k: v for k, v in cfg.items()
             if k not in {"site_id", "api_key", "api_endpoint", "appliance_id"}}
    return Provisioned("mac_lookup", site_id, _api_key(cfg.get("api_key")), endpoint,
                       appliance_id, extra)


def from_claim_v2(answer: ClaimV2Response, *, identity_fingerprint: str, site_id: str, mac: str,
                  endpoint: str) -> Provisioned:
    if answer.fingerprint != identity_fingerprint:
        raise AnswerRefused("bad_answer", "claim-v2 registered fingerprint "
                            f"{answer.fingerprint[:16]!r}, not this appliance's identity")
    if answer.appliance_id != f"{site_id}-{mac.upper()}":
        raise AnswerRefused("bad_answer", "claim-v2 answered for another appliance")
    return Provisioned("claim_v2", site_id, _api_key(answer.api_key), endpoint, answer.appliance_id)


def from_code_claim(answer: ProvisionClaimResponse, *, mac: str, endpoint: str) -> Provisioned:
    if not _SITE_ID.fullmatch(answer.site_id):
        raise AnswerRefused("bad_answer", "the provision-code answer has no valid site_id")
    if answer.appliance_id != f"{answer.site_id}-{normalize_mac(mac)}":
        raise AnswerRefused("bad_answer", "the provision-code answer is for another appliance")
    return Provisioned("provision_code", answer.site_id, _api_key(answer.api_key), endpoint,
                       answer.appliance_id)


def normalize_mac(mac: str) -> str:
    clean = mac.upper().replace(":", "").replace("-", "").replace(".", "")
    return ":".join(clean[i:i + 2] for i in range(0, len(clean), 2))


# --- the config file -------------------------------------------------------------------------


def render_config(p: Provisioned, *, state_dir: Path | None, server_public_key: str | None,
                  tls_pin_hash: str | None, when: str) -> bytes:
    """``config.yaml`` in the Go daemon's flat format (values JSON-quoted, valid YAML), checked
    by the agent's own loader before it is returned."""
    values: dict[str, Any] = {"site_id": p.site_id, "appliance_id": p.appliance_id,
                              "api_key": p.api_key, "api_endpoint": p.api_endpoint}
    if state_dir is not None:
        values["state_dir"] = str(state_dir)
    if server_public_key:
        values["server_public_key"] = server_public_key  # the pinned key, from the image
    if tls_pin_hash:
        values["tls_pin_hash"] = tls_pin_hash
    for key, value in p.extra.items():  # signed extras never replace what the image decides
        if key not in values and key not in _LOCAL_ONLY:
            values[key] = value
    lines = [f"# provisioned by msp-agent ({p.method}) at {when}"]
    lines += [f"{k}: {json.dumps(v, ensure_ascii=True)}" for k, v in values.items()]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        parse_config(data, environ={})
    except ConfigError as exc:
        raise AnswerRefused("bad_answer", f"the provisioned config would not load: {exc}") from None
    return data
