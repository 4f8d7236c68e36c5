"""The site's state, trust and credentials, shared by the components through read-only views.

:class:`SiteState` (identity, directives, targets; written by the checkin only),
:class:`ServerKeys` (the trusted server keys, orders.md §3), :class:`SealedCredentials`
(``credentials.sealed``).
"""

from agent.site.serverkeys import KeyPair, ServerKeys, offered_pair, valid_key
from agent.site.state import (
    Directives,
    DirectivesView,
    IdentityView,
    SealedCredentials,
    SiteState,
    TargetsView,
)

__all__ = ["Directives", "DirectivesView", "IdentityView", "KeyPair", "SealedCredentials",
           "ServerKeys", "SiteState", "TargetsView", "offered_pair", "valid_key"]
