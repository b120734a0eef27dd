"""The accountability trace adds up: recomputed independently for random lawful histories (hypothesis) from
the case's own state after each of its events, its periods are those the case was held in, named as the
case names them, they cover the case's open life without gap or overlap and end when it closes."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import errors
from domain.application import Minqing
from domain.audit import trace
from domain.demand import Demand
from domain.deployment import load
from tests.conftest import START, Clock, add_staff
from tests.support.lawful import WORKER, next_command, unlawful_steps
from tests.unit import cases

KINDS = ("responsible_cell", "step", "assignee")
Span = tuple[str, datetime, datetime | None]   # holder, from, to (None: held still)


def held(app: Minqing, demand_id: UUID) -> dict[str, list[Span]]:
    """Per kind, the runs of one holder while the case was open, read from the case's state after each of
    its events (not from the events' data, as the trace reads them)."""
    spans: dict[str, list[Span]] = {kind: [] for kind in KINDS}
    for entry in app.history(demand_id):
        state = app.repository.get(demand_id, version=entry.version)
        assert isinstance(state, Demand)
        now = {"responsible_cell": state.responsible_cell_id, "step": state.current_step,
               "assignee": state.assignee} if state.is_open else {}
        for kind in KINDS:
            runs, holder = spans[kind], now.get(kind)
            if runs and runs[-1][2] is None and runs[-1][0] != holder:
                runs[-1] = (runs[-1][0], runs[-1][1], entry.occurred_at)  # its holder's run ends here
            if holder is not None and not (runs and runs[-1][2] is None):
                runs.append((holder, entry.occurred_at, None))
    return spans


def open_life(app: Minqing, demand_id: UUID, now: datetime) -> list[tuple[datetime, datetime]]:
    """When the case was open: from raising or reopening to closing (or now)."""
    life: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for entry in app.history(demand_id):
        if entry.type in ("Raised", "Reopened"):
            since = entry.occurred_at
        elif entry.type in ("Resolved", "Closed"):
            assert since is not None
            life.append((since, entry.occurred_at))
            since = None
    if since is not None:
        life.append((since, now))
    return life


def periods_of(found: dict[str, Any], kind: str) -> list[Span]:
    return [(p["holder"], p["from"], p["to"]) for p in found["periods"] if p["kind"] == kind]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(picks=st.lists(st.integers(0, 99), min_size=10, max_size=60), cell=st.sampled_from(
    ("qingshui.dongcun.g1", "qingshui.dongcun.g2")), hours_later=st.integers(0, 300))
def test_the_trace_of_a_random_lawful_history_adds_up(picks: list[int], cell: str, hours_later: int) -> None:
    clock = Clock(START)
    app = Minqing(load("village_township"), env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    add_staff(app)
    demand_id = app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮", cell_id=cell).id
    for pick in picks:
        command = next_command(app, clock, demand_id, pick)
        if command is None:
            break
        try:
            command()
        except errors.DomainError:
            continue
    demand = app.demand(demand_id)
    if demand.template_key is not None:
        assert unlawful_steps(app.history(demand_id), demand.template_key) == []
    now = clock.advance(hours=hours_later)
    found = trace(app.history(demand_id), now)
    expected = held(app, demand_id)
    life = open_life(app, demand_id, now)
    open_hours = sum((end - start).total_seconds() for start, end in life) / 3600

    for kind in KINDS:
        periods = periods_of(found, kind)
        assert periods == expected[kind], kind
        for (_, _, end), (_, following, _) in itertools.pairwise(periods):
            assert end is not None and end <= following, f"{kind}: periods overlap"
        # every period lies within one stretch of the case's open life, and ends when that stretch ends
        for _, start, end in periods:
            assert any(since <= start and (end or now) <= until for since, until in life), kind
        ends = {end for _, _, end in periods}
        for since, until in life[:-1] if demand.is_open else life:
            covering = [p for p in periods if p[1] >= since and (p[2] or now) <= until]
            if covering:
                assert until in ends, f"{kind}: a period outlives the closing at {until}"
        if not demand.is_open:
            assert all(end is not None for _, _, end in periods), f"{kind}: a closed case keeps a holder"
        hours = sum(p["hours"] for p in found["periods"] if p["kind"] == kind)
        if kind != "assignee":  # a case is at a step and held by a cell from raising; assigned later
            assert abs(hours - open_hours) <= 0.01 * len(periods), (kind, hours, open_hours)
            covered = sum(((end or now) - start for _, start, end in periods), timedelta())
            assert covered.total_seconds() / 3600 == open_hours, f"{kind}: gaps in the open life"
    for period in found["periods"]:
        days, hours = period["duration"]["days"], period["duration"]["hours"]
        assert 0 <= hours < 24 and days * 24 + hours == round(period["hours"])
    if demand.is_open:  # held still: one holder of each kind the case has, its period running
        assert sorted(p["kind"] for p in found["periods"] if p["to"] is None) == sorted(
            kind for kind in KINDS if expected[kind])


def test_a_resolved_case_is_held_by_nobody_and_its_implementation_is_a_step_of_its_own(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    case = representatives_vote_pending
    app.assign(case, actor="chen.supervisor", assignee=WORKER)
    cases.representatives_vote(app, clock, case, present=12)             # no quorum: the vote step stays
    cases.representatives_vote(app, clock, case)
    notice = cases.resolution_notice(app, clock, case)
    clock.advance(days=8)
    app.end_notice(case, notice_id=notice)
    app.record_progress(case, actor=WORKER, summary="路基完成", percent=50)
    clock.advance(days=3)
    app.resolve(case, actor=WORKER, summary="道路已硬化")
    resolved_at = clock.now
    found = trace(app.history(case), clock.advance(days=70))
    steps = [p["holder"] for p in found["periods"] if p["kind"] == "step"]
    assert steps == ["raised", "branch_proposal", "two_committees", "members_assembly", "resolution_vote",
                     "resolution_notice", "implementation"]
    last = {p["kind"]: p["to"] for p in found["periods"]}   # each kind's latest period
    assert last == {"responsible_cell": resolved_at, "step": resolved_at, "assignee": resolved_at}
    vote = next(p for p in found["periods"] if p["holder"] == "resolution_vote")
    assert vote["duration"] == {"days": 2, "hours": 0}                   # both votes: one step
    implementation = next(p for p in found["periods"] if p["holder"] == "implementation")
    assert implementation["duration"] == {"days": 11, "hours": 0}
