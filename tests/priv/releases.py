"""Release bundles of this installation's code for the update tests
(:func:`agent.central.releases.dev_release`)."""

from agent.central.releases import dev_release as release

__all__ = ["release"]
