"""msp-agent: compliance and self-healing agent for clinic appliances."""

__version__ = "0.1.0"

__all__ = ["__version__"]
