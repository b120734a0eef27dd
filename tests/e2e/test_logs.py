"""The request log: one JSON line per request, with its request id, and no personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from api.compose import Runtime
from tests.e2e import support as s
from tests.e2e.support import Api


class JsonLines(io.StringIO):
    def records(self, event: str = "request") -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.getvalue().splitlines()]
        return [r for r in lines if r["event"] == event]


@pytest.fixture
def log() -> Iterator[JsonLines]:
    """structlog set up as `minqing serve` sets it up (workers/logs.py), writing to a buffer."""
    out = JsonLines()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(out), cache_logger_on_first_use=False)
    yield out
    structlog.reset_defaults()


def test_each_request_is_logged_once_with_its_id_actor_route_status_and_duration(
        api: Api, log: JsonLines) -> None:
    case = s.raised(api.app)
    response = api.get(f"/api/v1/demands/{case}", s.SUPERVISOR)
    [line] = log.records()
    assert line["request_id"] == response.headers["x-request-id"]
    assert len(line["request_id"]) == 32
    assert (line["actor"], line["method"], line["route"], line["status"]) == (
        s.SUPERVISOR, "GET", "/api/v1/demands/{demand_id}", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["level"] == "info" and "timestamp" in line


def test_a_request_id_sent_by_the_caller_is_kept(api: Api, log: JsonLines) -> None:
    response = api.get("/api/v1/demands", headers={"X-Request-ID": "from-the-gateway-42"})
    assert response.headers["x-request-id"] == "from-the-gateway-42"
    assert [r["request_id"] for r in log.records()] == ["from-the-gateway-42"]


def test_refused_and_anonymous_requests_are_logged_too(api: Api, log: JsonLines) -> None:
    api.get("/api/v1/demands", s.NO_TOKEN)
    api.get("/api/v1/audit/verify", s.WORKER)
    api.get("/api/v1/notices", s.NO_TOKEN)
    api.get("/api/v1/no-such-route", s.WORKER)
    assert [(r["actor"], r["route"], r["status"]) for r in log.records()] == [
        (None, "/api/v1/demands", 401), (s.WORKER, "/api/v1/audit/verify", 403),
        (None, "/api/v1/notices", 200), (None, "/api/v1/no-such-route", 404)]


def test_the_log_never_holds_a_residents_name_or_phone_number(api: Api, log: JsonLines) -> None:
    personal = {"resident_name": s.RESIDENT_NAME, "resident_phone": s.RESIDENT_PHONE}
    raise_body = {"channel": "phone", "title": "路灯", "cell_id": s.CELL} | personal
    raised = api.post("/api/v1/demands", raise_body).json()
    api.get(f"/api/v1/demands/{raised['id']}")
    api.get(f"/api/v1/demands/{raised['id']}/history")
    api.post("/api/v1/public/demands", {"title": "路灯", "cell_id": s.CELL} | personal, s.NO_TOKEN)
    api.post("/api/v1/public/demands", {"title": "", "cell_id": s.CELL} | personal, s.NO_TOKEN)
    api.post("/api/v1/households", {"cell_id": s.CELL, "address": "东村一组7号", "categories": ["hardship"],
                                    "head_name": s.RESIDENT_NAME, "phone": s.RESIDENT_PHONE})
    assert len(log.records()) == 6
    assert s.RESIDENT_NAME not in log.getvalue()
    assert s.RESIDENT_PHONE not in log.getvalue()


def test_an_unexpected_error_is_a_500_problem_logged_as_json_with_its_traceback(
        api: Api, log: JsonLines, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Runtime) -> dict[str, int]:
        raise RuntimeError("a fault of ours")

    monkeypatch.setattr(Runtime, "positions", broken)
    client = TestClient(api.client.app, raise_server_exceptions=False)  # as a real server answers
    response = client.get("/api/v1/health", headers=api.headers(s.SUPERVISOR))
    assert (response.status_code, s.problem_type(response)) == (500, "/problems/internal-error")
    assert "a fault of ours" not in response.text
    [line] = log.records("unexpected_error")
    assert "RuntimeError: a fault of ours" in line["exception"]
