"""Execution telemetry and incident reports: durable queues drained to Central Command."""
