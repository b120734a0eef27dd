"""Every history is hash-chained; verify finds the chain intact after a whole case's life."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import UUID

from domain.application import Minqing
from domain.chain import GENESIS, chain_of
from tests.conftest import STAFF, Clock
from tests.unit import cases


def a_full_life(app: Minqing, clock: Clock) -> UUID:
    """A village project from a household visit to the resident's rating, with one return on the way."""
    household = app.register_household(actor="wang.worker", cell_id=cases.VILLAGE, address="东村5号",
                                       categories=["hardship"]).id
    visit = app.schedule_visit(household, actor="wang.worker", visitor="wang.worker", purpose="routine",
                               due_at=clock.now + timedelta(days=1)).id
    app.conduct_visit(visit, actor="wang.worker", mode="in_home", needs_found=["road floods"])
    demand_id = app.raise_demand(actor="wang.worker", channel="visit", title="The east road floods",
                                 cell_id=cases.VILLAGE, visit_id=visit).id
    app.triage(demand_id, actor="wang.worker", category="public_works")
    app.assign(demand_id, actor="wang.worker", assignee="wang.worker")
    cases.endorse(app, clock, demand_id, ("branch_proposal",))
    app.discuss(demand_id, actor="wang.worker", step="two_committees", outcome="returned")
    cases.endorse(app, clock, demand_id, cases.VILLAGE_DISCUSSIONS)
    cases.representatives_vote(app, clock, demand_id, present=25, in_favour=20)
    notice_id = cases.resolution_notice(app, clock, demand_id)
    app.lodge_objection(demand_id, actor="resident", phone="13900001111", notice_id=notice_id,
                        text="排水沟要加宽")
    app.answer_objection(demand_id, actor="chen.supervisor", objection_id="objection-1", answer="已加宽")
    app.record_progress(demand_id, actor="wang.worker", summary="drain dug", percent=50)
    clock.advance(days=8)
    app.end_notice(demand_id, notice_id=notice_id)
    app.resolve(demand_id, actor="wang.worker", summary="road raised, drain widened")
    app.publicize(demand_id, actor="wang.worker", kind="result", text="工程完工 花费12万元")
    app.give_feedback(demand_id, actor="resident", rating="satisfied", comment="不再积水")
    return demand_id


def test_the_chain_is_intact_after_a_whole_case_life(app: Minqing, clock: Clock) -> None:
    a_full_life(app, clock)
    verification = app.verify()
    assert verification.intact
    assert verification.aggregates == 3 + len(STAFF)   # the demand, household and visit, and staff accounts


def test_every_history_entry_carries_its_chain_value(app: Minqing, clock: Clock) -> None:
    demand_id = a_full_life(app, clock)
    chains = [entry.chain for entry in app.history(demand_id)]
    assert all(len(chain) == 64 and int(chain, 16) >= 0 for chain in chains)
    assert len(set(chains)) == len(chains)


def test_each_chain_value_follows_from_the_one_before(app: Minqing, clock: Clock) -> None:
    demand_id = a_full_life(app, clock)
    previous = GENESIS
    for event in app.events.get(demand_id):
        assert event.chain == chain_of(previous, event)
        previous = event.chain


def test_the_case_keeps_the_head_of_its_chain(app: Minqing, clock: Clock) -> None:
    demand_id = a_full_life(app, clock)
    assert app.demand(demand_id).chain_head == app.history(demand_id)[-1].chain


def test_one_case_is_verified_on_its_own(app: Minqing, clock: Clock) -> None:
    demand_id = a_full_life(app, clock)
    verification = app.verify(demand_id)
    assert (verification.intact, verification.aggregates, verification.events) == (
        True, 1, len(app.history(demand_id)))


def test_a_changed_stored_event_breaks_the_chain(app: Minqing, clock: Clock) -> None:
    demand_id = a_full_life(app, clock)
    stored = app.recorder._stored_events
    index = next(i for i, s in enumerate(stored)
                 if s.originator_id == demand_id and s.originator_version == 3)
    stored[index] = dataclasses.replace(stored[index], state=stored[index].state.replace(b"wang.worker",
                                                                                          b"chen.worker"))
    verification = app.verify(demand_id)
    assert [(b.aggregate_id, b.version) for b in verification.breaks] == [(demand_id, 3)]
