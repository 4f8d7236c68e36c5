"""The workstation hub (issue 23): gRPC for the clinic's workstation agents, and its CA.

Only imported when ``grpc_hub_enabled`` (the gRPC runtime is the ``hub`` extra); the
composition root calls :func:`agent.hub.assemble.hub_registry` and
:func:`agent.hub.assemble.build_hub` lazily.
"""
