"""msp-agent: compliance and self-healing agent for clinic appliances."""

# Sent as agent_version: digits-only MAJOR.MINOR.PATCH, >= 0.5.0 (central-api.md §6.1).
__version__ = "1.0.0"

__all__ = ["__version__"]
