"""The checkin with Central Command (central-api.md §6): request, response, rekey."""

from agent.checkin.component import CheckinComponent

__all__ = ["CheckinComponent"]
