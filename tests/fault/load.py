"""Conflicting commands from many clients at once, and the checks of what the store kept of them.

Every command a client sends carries a marker of its own (`m-` and 16 hex digits) in a text field: a
note's text, a resolution's summary, a vote's attendees. After the run every case's history is read
through the Application and each marker is looked for: a command answered 2xx must appear exactly once,
at the version its answer gave; one refused (4xx) must not appear at all; one whose answer never came
(the process died, or 503) at most once. Triage and assignment carry no text, so their events are
counted instead. A command sent with an Idempotency-Key is retried with the same key until it has an
answer that is not "in progress", as the retry contract asks of a client.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx2
from sqlalchemy import Engine, func, select

from api.web.idempotency import requests as idempotency_claims
from domain.application import Minqing
from projections import all_views
from projections.processor import Processor
from tests.support.lawful import unlawful_steps
from tests.support.views import fresh_rebuild, rows_of

WORKER, SUPERVISOR = "wang.worker", "chen.supervisor"
STAFF = {WORKER: ("worker", "qingshui.dongcun"), SUPERVISOR: ("supervisor", "qingshui")}
CELL = "qingshui.dongcun.g1"
DEMANDS = 20
CATEGORIES = ("repairs", "public_works")  # the direct track, and 四议两公开 (four deliberations)
ACTIONS = ("triage", "assign", "note", "discuss", "vote", "publicize", "object", "answer-objection",
           "progress", "resolve", "feedback", "reopen")
BY_SUPERVISOR = ("assign", "answer-objection", "reopen")
UNMARKED = {"triage": "Triaged", "assign": "Assigned"}  # commands with no text field: counted by event type
MARKER = re.compile(r"m-[0-9a-f]{16}")
# Long enough for a lease to pass (the test runs the API with a short one) and a killed process to restart.
RETRY_SECONDS = 20.0


@dataclass
class Sent:
    """One command as a client meant it (however many times it was sent) and what came of it."""

    demand: str
    action: str
    marker: str | None
    key: str | None
    if_match: bool
    outcome: str = "unknown"  # accepted | refused | unknown (no answer, or 503) | stuck (no final answer)
    status: int | None = None
    version: int | None = None
    problem: str = ""


@dataclass
class Ledger:
    """Everything the clients sent and were answered, added to from every client thread."""

    sent: list[Sent] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    connections_refused: int = 0    # the process was down: nothing sent
    connections_lost: int = 0       # sent, and no answer came back
    keys_retried: set[str] = field(default_factory=set)  # sent again after an answer that was not final
    replays_checked: int = 0
    replays_unlike_the_first: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sent: Sent) -> None:
        with self.lock:
            self.sent.append(sent)
            if sent.outcome == "refused":
                self.refusals[sent.problem] += 1

    def answered(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    def refused_connection(self) -> None:
        with self.lock:
            self.connections_refused += 1

    def lost_connection(self) -> None:
        with self.lock:
            self.connections_lost += 1

    def figures(self) -> dict[str, Any]:
        """What was sent and answered, counted (docs/reliability.md)."""
        outcomes = Counter(s.outcome for s in self.sent)
        return {
            "commands": len(self.sent), "accepted": outcomes["accepted"], "refused": outcomes["refused"],
            "unknown": outcomes["unknown"], "stuck": outcomes["stuck"],
            "with_if_match": sum(s.if_match for s in self.sent),
            "with_key": sum(s.key is not None for s in self.sent),
            "keys_retried": len(self.keys_retried), "replays_checked": self.replays_checked,
            "connections_refused": self.connections_refused, "connections_lost": self.connections_lost,
            "http_5xx": sum(n for status, n in self.statuses.items() if status >= 500),
            "responses": dict(sorted(self.statuses.items())),
            "refused_as": dict(self.refusals.most_common()),
        }


class Clients:
    """`count` clients, each in its own thread, sending conflicting commands at the same cases through
    any of the API's base URLs until `seconds` have passed."""

    def __init__(self, bases: list[str], tokens: dict[str, str], cases: dict[str, str], ledger: Ledger, *,
                 seed: int) -> None:
        self.bases, self.tokens, self.cases, self.ledger = bases, tokens, cases, ledger
        self.seed = seed

    def run(self, count: int, seconds: float,
            beside: Callable[[threading.Event], None] | None = None) -> Ledger:
        """Run the clients (and `beside`, e.g. a killer, until they stop); the ledger once all are done.
        An exception in any of them is raised here."""
        until = time.monotonic() + seconds
        done = threading.Event()
        with ThreadPoolExecutor(count + 1) as pool:
            other = pool.submit(beside, done) if beside else None
            clients = [pool.submit(self._client, random.Random(self.seed + n), until) for n in range(count)]
            try:
                for client in clients:
                    client.result()
            finally:
                done.set()
            if other:
                other.result()
        return self.ledger

    # ------------------------------------------------------------------ one client
    def _client(self, rng: random.Random, until: float) -> None:
        with httpx2.Client(timeout=30) as http:
            while time.monotonic() < until:
                demand = rng.choice(list(self.cases))
                state = self._read(http, rng, demand)
                if state is None:
                    continue
                allowed = state["allowed_actions"]
                # mostly what the case allows next (which other clients race to do), sometimes anything
                lawful = [a.replace("_", "-") for a in allowed if a.replace("_", "-") in ACTIONS]
                action = rng.choice(lawful) if lawful and rng.random() < 0.8 else rng.choice(ACTIONS)
                marker = f"m-{uuid.uuid4().hex[:16]}"
                sent = Sent(demand, action, None if action in UNMARKED else marker,
                            uuid.uuid4().hex if rng.random() < 0.5 else None, rng.random() < 0.5)
                who = SUPERVISOR if action in BY_SUPERVISOR else WORKER
                headers = {"Authorization": f"Bearer {self.tokens[who]}"}
                if sent.key:
                    headers["Idempotency-Key"] = sent.key
                if sent.if_match:
                    headers["If-Match"] = f'"{state["version"]}"'
                body = self._body(rng, action, marker, demand, state)
                answer = self._deliver(http, rng, sent, f"/api/v1/demands/{demand}/{action}", body, headers)
                self.ledger.add(sent)
                if answer is not None and sent.outcome == "accepted" and sent.key and rng.random() < 0.2:
                    self._replay(http, rng, f"/api/v1/demands/{demand}/{action}", body, headers, answer)

    def _read(self, http: httpx2.Client, rng: random.Random, demand: str) -> dict[str, Any] | None:
        try:
            response = http.get(f"{rng.choice(self.bases)}/api/v1/demands/{demand}",
                                headers={"Authorization": f"Bearer {self.tokens[SUPERVISOR]}"})
        except httpx2.ConnectError:
            self.ledger.refused_connection()
            time.sleep(0.1)
            return None
        except httpx2.TransportError:
            self.ledger.lost_connection()
            return None
        self.ledger.answered(response.status_code)
        if response.status_code != 200:
            time.sleep(0.1)
            return None
        state: dict[str, Any] = response.json()
        return state

    def _body(self, rng: random.Random, action: str, marker: str, demand: str,
              state: dict[str, Any]) -> dict[str, Any]:
        step = state.get("current_step") or ""
        notices = [n for n, notice in (state.get("notices") or {}).items() if not notice.get("ended")]
        objections = [o for o, objection in (state.get("objections") or {}).items()
                      if not objection.get("answered")]
        bodies: dict[str, Callable[[], dict[str, Any]]] = {
            "triage": lambda: {"category": self.cases[demand]},
            "assign": lambda: {"assignee": WORKER},
            "note": lambda: {"text": f"回访 {marker}"},
            "discuss": lambda: {"step": step, "summary": marker,
                                "outcome": "returned" if rng.random() < 0.1 else "endorsed"},
            "vote": lambda: {"body": "representatives", "members": 30, "present": rng.randint(15, 30),
                             "in_favour": rng.randint(8, 15), "against": 0, "abstained": 0,
                             "attendees": [marker]},
            "publicize": lambda: {"kind": ("resolution" if step == "resolution_notice" else
                                           "result" if state["status"] == "closed" else "rejection"),
                                  "text": f"公示 {marker}"},
            "object": lambda: {"notice_id": notices[-1] if notices else "resolution-1-1", "text": marker},
            "answer-objection": lambda: {"objection_id": objections[0] if objections else "objection-1",
                                         "answer": marker},
            "progress": lambda: {"summary": marker, "percent": rng.randint(0, 100)},
            "resolve": lambda: {"summary": f"已办结 {marker}"},
            "feedback": lambda: {"rating": rng.choice(("satisfied", "dissatisfied")), "comment": marker},
            "reopen": lambda: {"reason": f"回访复查 {marker}"},
        }
        return bodies[action]()

    def _deliver(self, http: httpx2.Client, rng: random.Random, sent: Sent, path: str, body: dict[str, Any],
                 headers: dict[str, str]) -> httpx2.Response | None:
        """Send until answered. A connection refused reached no server, so the command is sent again; with
        a key it is also sent again after a lost connection, a 503 or an "in progress", until the answer
        is final (bounded: a command never answered is `stuck`)."""
        give_up = time.monotonic() + RETRY_SECONDS
        while True:
            unsent = False
            try:
                response = http.post(f"{rng.choice(self.bases)}{path}", json=body, headers=headers)
            except httpx2.ConnectError:      # the process is down: nothing was sent
                self.ledger.refused_connection()
                response, unsent = None, True
            except httpx2.TransportError:    # sent, and the connection lost: recorded or not, nobody knows
                self.ledger.lost_connection()
                response = None
            if response is not None:
                self.ledger.answered(response.status_code)
            in_progress = response is not None and response.status_code == 409 and \
                response.json().get("type", "").endswith("request-in-progress")
            final = response is not None and response.status_code < 500 and not in_progress
            if final or (sent.key is None and not unsent):
                break
            if sent.key is not None and not unsent:
                with self.ledger.lock:
                    self.ledger.keys_retried.add(sent.key)
            if time.monotonic() > give_up:
                sent.outcome = "stuck"
                return None
            time.sleep(float(response.headers.get("retry-after", "0.5")) if response is not None else 0.2)
        if response is None or response.status_code >= 500:
            return None                      # no answer: `unknown`
        sent.status = response.status_code
        if response.status_code < 300:
            sent.outcome, sent.version = "accepted", int(response.json()["version"])
        else:
            problem = response.json()
            sent.outcome, sent.problem = "refused", str(problem.get("type", "")).rsplit("/", 1)[-1]
        return response

    def _replay(self, http: httpx2.Client, rng: random.Random, path: str, body: dict[str, Any],
                headers: dict[str, str], first: httpx2.Response) -> None:
        """A client that missed the answer sends the same request with the same key: the first answer
        comes back, marked as replayed, and nothing new is recorded (checked with the markers)."""
        try:
            again = http.post(f"{rng.choice(self.bases)}{path}", json=body, headers=headers)
        except httpx2.ConnectError:
            self.ledger.refused_connection()
            return
        except httpx2.TransportError:
            self.ledger.lost_connection()
            return
        self.ledger.answered(again.status_code)
        with self.ledger.lock:
            self.ledger.replays_checked += 1
            if (again.status_code, again.json(), again.headers.get("idempotent-replayed")) != \
                    (first.status_code, first.json(), "true"):
                self.ledger.replays_unlike_the_first.append(f"{path}: {first.text} then {again.text}")


# ---------------------------------------------------------------------- what the store kept
def raise_cases(base: str, token: str, ledger: Ledger) -> dict[str, str]:
    """The cases the clients contend for, half of them to be triaged onto each track: id → category."""
    cases: dict[str, str] = {}
    with httpx2.Client(timeout=30) as http:
        for n in range(DEMANDS):
            marker = f"m-{uuid.uuid4().hex[:16]}"
            response = http.post(f"{base}/api/v1/demands", headers={"Authorization": f"Bearer {token}"},
                                 json={"channel": "reception_day", "title": f"东村一组 {n} 号 {marker}",
                                       "cell_id": CELL})
            assert response.status_code == 201, response.text
            demand = response.json()["id"]
            ledger.add(Sent(demand, "raise", marker, None, False, "accepted", 201, 1))
            cases[demand] = CATEGORIES[n % 2]
    return cases


def stored_once(app: Minqing, ledger: Ledger, cases: dict[str, str]) -> list[str]:
    """What breaks "every 2xx stored exactly once, every refusal stored nothing"; empty when all holds."""
    broken: list[str] = []
    found: dict[str, list[tuple[str, int]]] = {}   # marker → (case, version) of each event carrying it
    events: Counter[tuple[str, str]] = Counter()    # (case, event type)
    for demand in cases:
        history = app.history(UUID(demand))
        if [e.version for e in history] != list(range(1, len(history) + 1)):
            broken.append(f"{demand}: versions are not 1..{len(history)}")
        for e in history:
            events[(demand, e.type)] += 1
            for marker in MARKER.findall(repr(e.data)):
                found.setdefault(marker, []).append((demand, e.version))
    sent_markers = {s.marker for s in ledger.sent if s.marker}
    broken += [f"marker {m} stored but never sent" for m in found if m not in sent_markers]
    for s in ledger.sent:
        if s.marker is None:
            continue
        where = found.get(s.marker, [])
        if s.outcome == "accepted" and where != [(s.demand, s.version)]:
            broken.append(f"{s.action} {s.marker} answered {s.status} v{s.version} on {s.demand}, "
                          f"stored {where}")
        if s.outcome == "refused" and where:
            broken.append(f"{s.action} {s.marker} refused ({s.problem}) but stored {where}")
        if s.outcome in ("unknown", "stuck") and len(where) > 1:
            broken.append(f"{s.action} {s.marker} unanswered but stored {len(where)} times: {where}")
    for demand in cases:
        for action, event_type in UNMARKED.items():
            mine = [s for s in ledger.sent if s.demand == demand and s.action == action]
            accepted = sum(s.outcome == "accepted" for s in mine)
            unanswered = sum(s.outcome in ("unknown", "stuck") for s in mine)
            stored = events[(demand, event_type)]
            if not accepted <= stored <= accepted + unanswered:
                broken.append(f"{demand}: {stored} {event_type} events for {accepted} accepted {action} "
                              f"commands and {unanswered} unanswered")
    return broken


def unlawful_histories(app: Minqing, cases: dict[str, str]) -> list[str]:
    """Where a case's history breaks its template (`tests.support.lawful`); empty when none does."""
    broken: list[str] = []
    for demand in cases:
        template = app.demand(UUID(demand)).template_key
        if template is not None:
            history = app.history(UUID(demand))
            broken += [f"{demand} {problem}" for problem in unlawful_steps(history, template)]
    return broken


def views_caught_up(app: Minqing, engine: Engine, seconds: float = 60.0) -> None:
    """Wait (bounded) until every view has processed the whole log."""
    processor = Processor(app, engine)
    deadline = time.monotonic() + seconds
    while min(processor.positions().values()) < (app.recorder.max_notification_id() or 0):
        assert time.monotonic() < deadline, f"the views did not catch up within {seconds} s: " \
            f"{processor.positions()} of {app.recorder.max_notification_id()}"
        time.sleep(0.2)


def views_unlike_a_rebuild(app: Minqing, engine: Engine) -> list[str]:
    """The views whose rows differ from a fresh rebuild of the same log."""
    return [view.name for view in all_views().values()
            if rows_of(engine, view) != fresh_rebuild(app, engine, view)]


def claims_in_flight(engine: Engine) -> int:
    """Idempotency-Key claims still without a response: requests that died and were never taken over."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(idempotency_claims)
                                .where(idempotency_claims.c.status.is_(None))).scalar_one())
