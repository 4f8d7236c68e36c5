"""Changing the appliance itself: release downloads and bundles (``release``), workstation-agent
binaries (``agentbin``), the capped, deadlined HTTPS download (``download``) and the deferred
completions that survive the restart (``pending``). Root work goes through :mod:`agent.priv`."""
