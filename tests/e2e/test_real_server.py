"""End to end against real processes: `db init`, the `accounts` CLI, `minqing api --workers 2`
(two uvicorn processes), `worker projections` and `worker deadlines`, all on a fresh PostgreSQL
schema, driven over real HTTP.

Stories are told in the past through `occurred_at` (the API takes it on every command), so notice
periods are over before the next step, as the domain demands. The deadline watcher runs every
second beside the stories: a command that races one of its events is retried by the API (no
If-Match is sent), and one case is left untriaged on purpose so that the watcher records its missed
first response and escalates it, which the unresolved view must then show.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.support import Processes

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
STAFF = {  # username: (role, cell)
    "wang.worker": ("worker", "qingshui.dongcun"),
    "liu.community": ("worker", "qingshui.community"),
    "chen.supervisor": ("supervisor", "qingshui"),
}


def at(**ago: float) -> str:
    """An ISO time this long before the test started."""
    return (NOW - timedelta(**ago)).isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HTTPProblem(AssertionError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


@dataclass
class Client:
    base: str
    token: str | None = None
    positions: list[int] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                payload = response.read().decode()
                content_type = response.headers.get("content-type", "")
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                problem = json.loads(text)
            except ValueError:
                problem = text
            raise HTTPProblem(error.code, problem) from None
        if raw:
            return content_type, payload
        return json.loads(payload)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any) -> Any:
        done = self.request("POST", path, body)
        if isinstance(done, dict) and "position" in done:
            self.positions.append(done["position"])
        return done

    def command(self, demand_id: str, name: str, **body: Any) -> dict[str, Any]:
        return self.post(f"/api/v1/demands/{demand_id}/{name}", body)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"minqing {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def server(postgres_schema: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Processes]]:
    """Initialised database, staff accounts with tokens, and the API (2 processes) plus both workers."""
    env = {**os.environ, "MINQING_DATABASE_URL": f"{POSTGRES_URL}?schema={postgres_schema}",
           "PYTHONUNBUFFERED": "1"}
    env.pop("MINQING_CIPHER_KEY", None)
    cli(env, "db", "init")
    tokens = {}
    for username, (role, cell) in STAFF.items():
        cli(env, "accounts", "create", username, "--role", role, "--cell", cell)
        tokens[username] = cli(env, "accounts", "issue-token", username, "--label", "e2e").strip()
    port = free_port()
    processes = Processes()
    try:
        processes.start("api", env, tmp_path, "api.cli", "api", "--workers", "2", "--port", str(port))
        processes.start("projections", env, tmp_path, "workers.projections")
        processes.start("deadlines", env, tmp_path, "workers.deadlines", "--every", "1")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            processes.alive()
            try:
                if Client(base).get("/readyz")["status"] == "ready":
                    break
            except (OSError, HTTPProblem):
                pass
            assert time.monotonic() < deadline, f"the API was not ready:\n{processes.tail('api')}"
            time.sleep(0.2)
        yield base, tokens, processes
    finally:
        codes = processes.stop()
        logs = {name: processes.tail(name) for name in processes.running}
        processes.running.clear()  # reported below; nothing left to stop
        unclean = {name: code for name, code in codes.items() if code != 0}
        assert not unclean, f"processes did not exit cleanly on SIGTERM: {unclean}\n" + \
            "\n".join(f"--- {name}\n{logs[name]}" for name in unclean)


def test_three_stories_over_real_http(server: tuple[str, dict[str, str], Processes]) -> None:
    base, tokens, processes = server
    wang = Client(base, tokens["wang.worker"])
    liu = Client(base, tokens["liu.community"])
    chen = Client(base, tokens["chen.supervisor"])
    public = Client(base)

    health = chen.get("/api/v1/health")
    assert health["status"] == "ok"
    assert set(health["views"]) >= {"cases", "case_words", "notice_board"}
    assert public.get("/readyz") == {"status": "ready"}

    # (1) 四议两公开: a village road, through all six steps, with the resolution notice period over
    road = wang.post("/api/v1/demands", {
        "channel": "reception_day", "title": "Repave the road to Dongcun group 1",
        "cell_id": "qingshui.dongcun.g1", "category": "public_works",
        "resident_name": "李大山", "resident_phone": "13800001111", "occurred_at": at(days=9)})["id"]
    wang.command(road, "triage", category="public_works", occurred_at=at(days=9, hours=-1))
    wang.command(road, "assign", assignee="wang.worker", occurred_at=at(days=9, hours=-2))
    for hours, step in ((3, "branch_proposal"), (4, "two_committees"), (5, "members_assembly")):
        wang.command(road, "discuss", step=step, attendees=["branch secretary", "committee members"],
                     summary=f"{step} endorsed", occurred_at=at(days=9, hours=-hours))
    wang.command(road, "vote", body="representatives", members=30, present=24, in_favour=20, against=3,
                 abstained=1, occurred_at=at(days=9, hours=-6))
    assert wang.get(f"/api/v1/demands/{road}")["current_step"] == "resolution_notice"
    wang.command(road, "publicize", kind="resolution", text="Resolution: repave the road, budget 80,000 yuan",
                 channels=["notice_board", "wechat_group"], occurred_at=at(days=9, hours=-7))
    with pytest.raises(HTTPProblem) as early:  # the 7-day notice period is not over yet
        wang.command(road, "resolve", summary="too early", occurred_at=at(days=5))
    assert early.value.status == 409 and early.value.body["type"].endswith("notice-period-not-over"), \
        early.value.body
    wang.command(road, "progress", summary="half the road repaved", percent=50, occurred_at=at(days=5))
    wang.command(road, "progress", summary="repaving done", percent=100, occurred_at=at(days=2))
    wang.command(road, "resolve", summary="road repaved and inspected", occurred_at=at(days=1))
    wang.command(road, "publicize", kind="result", text="Result: the road is repaved; accounts posted",
                 occurred_at=at(hours=2))
    state = wang.get(f"/api/v1/demands/{road}")
    assert (state["status"], state["outcome"], state["template"]) == \
        ("closed", "resolved", "four_deliberations_two_disclosures")
    assert state["feedback_state"] == "asked"

    # (2) 六步议事: a community parking compact; the first vote has no quorum,
    # the re-vote carries with 2/3
    parking = liu.post("/api/v1/demands", {
        "channel": "delegate", "title": "Parking compact for building 3",
        "cell_id": "qingshui.community.p1.a.b3", "occurred_at": at(days=12)})["id"]
    liu.command(parking, "triage", category="community_rules", occurred_at=at(days=12, hours=-1))
    for hours, step in ((2, "topic_raised"), (3, "consultation_forum"), (4, "plan_drafted")):
        liu.command(parking, "discuss", step=step, attendees=["residents' council"],
                    occurred_at=at(days=12, hours=-hours))
    liu.command(parking, "publicize", kind="draft", text="Draft parking compact, comments welcome",
                occurred_at=at(days=12, hours=-5))
    liu.command(parking, "discuss", step="expert_review", attendees=["traffic engineer"],
                occurred_at=at(days=4))
    # 20 of 40 is not more than half: no quorum
    liu.command(parking, "vote", body="residents_representatives", members=40, present=20, in_favour=18,
                against=2, abstained=0, occurred_at=at(days=3))
    after_invalid = liu.get(f"/api/v1/demands/{parking}")
    assert (after_invalid["status"], after_invalid["current_step"]) == ("deliberating", "residents_vote")
    # 20 of 30 is exactly two thirds: adopted
    liu.command(parking, "vote", body="residents_representatives", members=40, present=30, in_favour=20,
                against=8, abstained=2, occurred_at=at(days=2))
    votes = [e["data"] for e in liu.get(f"/api/v1/demands/{parking}/history") if e["type"] == "Voted"]
    assert [v["outcome"] for v in votes] == ["invalid", "adopted"]
    state = liu.get(f"/api/v1/demands/{parking}")
    assert (state["status"], state["current_step"], state["template"]) == \
        ("implementing", "implementation", "six_step_deliberation")

    # (3) direct: a broken street light, resolved, the resident is dissatisfied, the supervisor reopens it
    light = wang.post("/api/v1/demands", {
        "channel": "phone", "title": "Street light out by the well", "cell_id": "qingshui.dongcun.g2",
        "category": "repairs", "resident_name": "王小红", "resident_phone": "13900002222",
        "occurred_at": at(hours=20)})["id"]
    wang.command(light, "triage", category="repairs", occurred_at=at(hours=19))
    wang.command(light, "assign", assignee="wang.worker", occurred_at=at(hours=18))
    wang.command(light, "resolve", summary="bulb replaced", occurred_at=at(hours=10))
    wang.command(light, "feedback", rating="dissatisfied", comment="it went out again the same night",
                 occurred_at=at(hours=6))
    with pytest.raises(HTTPProblem) as refused:  # reopening is a supervisor's
        wang.command(light, "reopen", reason="resident dissatisfied", occurred_at=at(hours=2))
    assert refused.value.status == 403
    chen.command(light, "reopen", reason="return recheck: the light is still out", occurred_at=at(hours=1))
    state = chen.get(f"/api/v1/demands/{light}")
    # reopening clears the rating, in the case as in every view (DOMAIN.md, "Decisions made precise")
    assert (state["status"], state["reopen_count"], state["rating"]) == ("in_progress", 1, None)

    # (4) left untriaged on purpose: the deadline watcher records the missed first response and escalates
    drain = chen.post("/api/v1/demands", {
        "channel": "grid_patrol", "title": "Blocked drain in Xicun group 1", "cell_id": "qingshui.xicun.g1",
        "occurred_at": at(days=3)})["id"]

    processes.alive()
    last = max(wang.positions + liu.positions + chen.positions)

    # the case list, read after the last write
    listed = {c["id"]: c for c in chen.get(f"/api/v1/demands?after={last}&limit=50")["items"]}
    assert (listed[road]["status"], listed[road]["current_step"], listed[road]["outcome"]) == \
        ("closed", "closed", "resolved")
    assert (listed[parking]["status"], listed[parking]["current_step"]) == ("implementing", "implementation")
    assert (listed[light]["status"], listed[light]["current_step"], listed[light]["reopen_count"]) == \
        ("in_progress", "in_progress", 1)
    assert listed[drain]["status"] == "raised"
    in_dongcun = wang.get(f"/api/v1/demands?after={last}")["items"]  # a village worker sees only the village
    assert {c["id"] for c in in_dongcun} == {road, light}
    assert wang.get(f"/api/v1/demands?after={last}&step=implementation")["items"] == []
    in_community_rules = chen.get(f"/api/v1/demands?after={last}&category=community_rules")["items"]
    assert [c["id"] for c in in_community_rules] == [parking]

    # response times and satisfaction, by category
    times = {r["category"]: r for r in chen.get(f"/api/v1/views/response-times?after={last}")}
    assert times["public_works"]["count"] == 1 and times["public_works"]["resolved"] == 1
    assert times["public_works"]["first_response_hours_median"] == pytest.approx(1.0)
    assert (times["repairs"]["count"] == 1
            and times["repairs"]["first_response_hours_median"] == pytest.approx(1.0))
    assert times["community_rules"]["count"] == 1 and times["community_rules"]["resolved"] == 0
    steps = {r["step"]: r for r in chen.get(f"/api/v1/views/response-times?after={last}&steps=true"
                                            "&category=public_works")}
    assert set(steps) >= {"branch_proposal", "two_committees", "members_assembly", "resolution_vote"}
    satisfaction = {r["category"]: r for r in chen.get(f"/api/v1/views/satisfaction?after={last}")}
    repairs = satisfaction["repairs"]
    assert (repairs["asked"], repairs["answered"], repairs["dissatisfied"], repairs["reopens"]) == \
        (1, 1, 1, 1)
    assert repairs["satisfaction_rate"] == 0
    assert (satisfaction["public_works"]["asked"], satisfaction["public_works"]["answered"]) == (1, 0)
    csv_type, csv_text = chen.get(f"/api/v1/views/satisfaction?after={last}&format=csv", raw=True)
    assert csv_type.startswith("text/csv") and csv_text.startswith("\ufeff类别,") and "设施报修" in csv_text

    # unresolved: the untriaged drain, once the watcher has recorded its missed first response
    deadline = time.monotonic() + 20
    while True:
        head = chen.get("/api/v1/health")["head"]
        unresolved = {c["id"]: c for c in chen.get(f"/api/v1/views/unresolved?after={head}")["items"]}
        if drain in unresolved and unresolved[drain]["escalations"]:
            break
        assert time.monotonic() < deadline, \
            f"the watcher did not escalate the drain:\n{processes.tail('deadlines')}"
        time.sleep(0.5)
    late = unresolved[drain]
    assert late["step"] == "raised" and late["escalation_level"] == 1
    assert late["responsible_cell_id"] == "qingshui.xicun"
    assert any(m.startswith("first_response@") for m in late["deadlines_missed"]), late
    assert road not in unresolved and light not in unresolved  # closed, or reopened with fresh deadlines
    chen.command(drain, "flag", responsible="Xicun group 1 grid worker",
                 finding="no response within 24 hours")

    # the public notice board: the road's result notice, without personal data
    board = public.request("GET", "/api/v1/notices?limit=100", raw=True)[1]
    notices = json.loads(board)["items"]
    result = [n for n in notices if n["case_id"] == road and n["kind"] == "result"]
    assert len(result) == 1 and not result[0]["period_over"], notices
    assert result[0]["text"].startswith("Result:")
    assert "李大山" not in board and "13800001111" not in board

    # the accountability trace: who held each case and its steps, as JSON and CSV
    trace = chen.get(f"/api/v1/demands/{road}/trace")
    holders = {(p["kind"], p["holder"]) for p in trace["periods"]}
    assert ("assignee", "wang.worker") in holders
    assert ("responsible_cell", "qingshui.dongcun.g1") in holders
    assert {("step", s) for s in ("branch_proposal", "two_committees", "members_assembly",
                                  "resolution_vote", "resolution_notice", "implementation")} <= holders
    assert all(p["to"] is not None for p in trace["periods"])     # the road was resolved: nobody holds it
    trace = chen.get(f"/api/v1/demands/{light}/trace")
    assert [(p["holder"], p["to"] is None) for p in trace["periods"] if p["kind"] == "step"] == \
        [("raised", False), ("in_progress", False), ("in_progress", True)]  # closed, then reopened
    drain_trace = chen.get(f"/api/v1/demands/{drain}/trace")
    assert [(x["to"], x["automatic"]) for x in drain_trace["escalations"]] == [("qingshui.xicun", True)]
    assert [f["responsible"] for f in drain_trace["accountability_flags"]] == ["Xicun group 1 grid worker"]
    csv_type, csv_text = chen.get(f"/api/v1/demands/{drain}/trace?format=csv", raw=True)
    assert csv_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff"))))
    kinds = {r["事项"] for r in rows}
    assert {"责任网格", "所处步骤", "超期", "上报", "问责标记"} <= kinds
    assert {r["责任人或内容"] for r in rows if r["事项"] == "责任网格"} == {"西村一组", "西村"}

    # each history is intact and in order
    history = chen.get(f"/api/v1/demands/{road}/history")
    assert [e["version"] for e in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "Raised"

    # every API process logs one JSON line per request, with the actor and no personal data
    lines = [json.loads(line) for line in processes.logs["api"].read_text().splitlines()
             if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) > 50, processes.tail("api")
    assert {"wang.worker", "liu.community", "chen.supervisor"} <= {line.get("actor") for line in requests}
    assert all(line.get("request_id") for line in requests)
    assert "李大山" not in processes.logs["api"].read_text()
    assert [e["data"]["kind"] for e in history if e["type"] == "Publicized"] == ["resolution", "result"]
    processes.alive()
