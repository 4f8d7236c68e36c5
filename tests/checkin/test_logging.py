"""Checkin logging: the first success and recoveries at INFO, the steady state at DEBUG, an INFO
summary at most once per SUMMARY_EVERY_S."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.logstate import logging_restored

import agent.log as agentlog
from agent.checkin.component import SUMMARY_EVERY_S, CheckinComponent
from agent.state import load_or_create

from .conftest import Env, client_context


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_steady_state_at_debug_with_a_periodic_summary(
        env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import agent.checkin.component as checkin_component

    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.setattr(checkin_component, "log", agentlog.get_logger("checkin"))  # fresh limits
    with logging_restored():
        await _steady_state(env, capsys)


async def _steady_state(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    agentlog.configure("DEBUG", "json")
    mono = Mono()
    cfg = env._config({})
    comp = CheckinComponent(cfg, env.config_path, load_or_create(env.state),
                            ssl_context=client_context(env.ca), monotonic=mono)
    capsys.readouterr()

    def events() -> list[dict[str, Any]]:
        out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        return [x for x in out if x["event"].startswith("checkin.")]

    try:
        assert await comp.run_once()
        [first] = [x for x in events() if x["event"] == "checkin.ok"]
        assert first["level"] == "info"
        assert await comp.run_once()
        steady = events()
        assert [(x["event"], x["level"]) for x in steady] == [("checkin.ok", "debug")]
        comp._failed("server", "checkin answered HTTP 503: down")
        failed = events()
        assert failed[0]["event"] == "checkin.failed" and "503: down" in failed[0]["msg"]
        assert await comp.run_once()
        [recovered] = events()
        assert recovered["event"] == "checkin.recovered" and recovered["level"] == "info"
        assert recovered["failures_before"] == 1
        mono.t += SUMMARY_EVERY_S
        assert await comp.run_once()
        got = {x["event"]: x for x in events()}
        assert got["checkin.ok"]["level"] == "debug"
        summary = got["checkin.summary"]
        assert summary["level"] == "info"
        assert (summary["succeeded"], summary["failed"]) == (4, 1)
        assert await comp.run_once()
        assert [x["event"] for x in events()] == ["checkin.ok"]  # no second summary yet
    finally:
        await comp.close()
