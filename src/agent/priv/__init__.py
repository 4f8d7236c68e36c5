"""The privileged helper (runtime.md §10.4) and the agent's side of it.

``schema`` is the compiled-in allowlist with each action's parameter schema (shared by both
sides; it imports nothing of the agent); ``helper`` is the program the root-owned unit
``msp-agent-priv@<action>.service`` runs (``python -m agent.priv <action>``, ``msp-agent-priv``);
``releases`` and ``trial`` are its install/switch/rollback steps; ``client`` is what the agent
runs: parameters written atomically, ``systemctl start`` by argument list, the result read back.
"""
