"""The healing pipeline (healing.md §4): gates, dedup, limits, L1, runbook execution, journal."""

from agent.healing.executor import HealOutcome, RunbookRunner
from agent.healing.journal import HealingJournal, OpenHeal
from agent.healing.pipeline import GateState, HealingPipeline, PipelineResult, ReportSink, outbox_sink

__all__ = ["GateState", "HealOutcome", "HealingJournal", "HealingPipeline", "OpenHeal", "PipelineResult",
           "ReportSink", "RunbookRunner", "outbox_sink"]
