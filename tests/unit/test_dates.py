"""Dates must make sense (DOMAIN.md, "Decisions made precise"): a step of a case's process happens no
earlier than the step before it; an objection follows its notice and an answer its objection; a visit
follows its scheduling and its household's registration, and a demand raised from a visit follows the visit.

"The step before" is the last event that moved the case along its process: raising, triage, a
deliberation meeting or vote, a notice, implementation progress, resolution or closing, feedback or its
expiry, reopening. Notes, assignments and escalations are not steps: they need only follow the raising.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from domain.chain import UNSET_TIME
from domain.demand import Demand
from domain.visit import HouseholdVisit
from tests.conftest import Clock
from tests.unit import cases
from tests.unit.test_households_and_visits import register

HOUR = timedelta(hours=1)


@pytest.fixture
def repair_progressed(app: Minqing, clock: Clock, repair_in_progress: UUID) -> UUID:
    """A direct repair whose progress was recorded a day after triage."""
    clock.advance(days=1)
    app.record_progress(repair_in_progress, actor="wang.worker", summary="cover ordered", percent=50)
    return repair_in_progress


@pytest.fixture
def objection_lodged(app: Minqing, clock: Clock, resolution_notice_up: UUID) -> UUID:
    """A villager objected to the resolution notice a day after it was posted."""
    clock.advance(days=1)
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor="wang.worker", notice_id=notice_id, text="路线不合理")
    return resolution_notice_up


def _when(app: Minqing, demand_id: UUID, event_type: str) -> datetime:
    """When the latest event of this type on the case happened."""
    return [e.occurred_at for e in app.history(demand_id) if e.type == event_type][-1]


# ---------------------------------------------------------------- deliberation
def test_a_vote_dated_before_the_meeting_it_follows_is_refused(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    assembly_held = _when(app, representatives_vote_pending, "Discussed")
    with pytest.raises(errors.OccurredOutOfOrder):
        app.vote(representatives_vote_pending, actor="wang.worker", body="representatives", members=30,
                 present=20, in_favour=11, against=9, abstained=0, occurred_at=assembly_held - HOUR)


def test_a_meeting_dated_before_the_previous_meeting_is_refused(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    clock.advance(days=2)
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal")
    with pytest.raises(errors.OccurredOutOfOrder):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees",
                    occurred_at=clock.now - timedelta(days=1))


def test_a_meeting_dated_before_the_case_was_triaged_is_refused(app: Minqing, clock: Clock) -> None:
    demand_id = app.raise_demand(actor="wang.worker", channel="delegate", title="Harden the east road",
                                 cell_id=cases.VILLAGE).id
    clock.advance(days=3)
    app.triage(demand_id, actor="wang.worker", category="public_works")
    with pytest.raises(errors.OccurredOutOfOrder):
        app.discuss(demand_id, actor="wang.worker", step="branch_proposal",
                    occurred_at=clock.now - timedelta(days=1))


def test_a_meeting_held_the_same_moment_as_the_step_before_is_accepted(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal", occurred_at=clock.now)
    assert app.demand(awaiting_branch_proposal).current_step == "two_committees"


def test_a_meeting_recorded_late_may_be_dated_before_a_note_written_since(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    held = clock.advance(days=1)
    clock.advance(days=1)
    app.add_note(awaiting_branch_proposal, actor="wang.worker", text="minutes to be typed up")
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal", occurred_at=held)
    assert app.demand(awaiting_branch_proposal).current_step == "two_committees"


def test_a_resolution_notice_dated_before_the_vote_is_refused(
        app: Minqing, clock: Clock, resolution_notice_pending: UUID) -> None:
    voted = clock.now
    clock.advance(days=1)
    with pytest.raises(errors.OccurredOutOfOrder):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="resolution", text="决议",
                      occurred_at=voted - HOUR)


def test_a_refused_out_of_order_step_records_nothing(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    before = app.demand(representatives_vote_pending).version
    with pytest.raises(errors.OccurredOutOfOrder):
        app.vote(representatives_vote_pending, actor="wang.worker", body="representatives", members=30,
                 present=20, in_favour=11, against=9, abstained=0, occurred_at=clock.now - timedelta(days=2))
    assert app.demand(representatives_vote_pending).version == before


# ---------------------------------------------------------------- notices and objections
def test_an_objection_dated_before_its_notice_was_posted_is_refused(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    clock.advance(days=1)
    app.add_note(resolution_notice_up, actor="wang.worker", text="notice board checked")
    with pytest.raises(errors.OccurredOutOfOrder):
        app.lodge_objection(resolution_notice_up, actor="wang.worker", notice_id=notice_id, text="异议",
                            occurred_at=clock.now - timedelta(days=2))


def test_an_answer_dated_before_the_objection_was_lodged_is_refused(
        app: Minqing, clock: Clock, objection_lodged: UUID) -> None:
    clock.advance(days=1)
    with pytest.raises(errors.OccurredOutOfOrder):
        app.answer_objection(objection_lodged, actor="chen.supervisor", objection_id="objection-1",
                             answer="已答复", occurred_at=clock.now - timedelta(days=2))


# ---------------------------------------------------------------- implementation and closing
def test_progress_dated_before_the_resolution_notice_was_posted_is_refused(
        app: Minqing, clock: Clock, resolution_notice_over: UUID) -> None:
    posted = app.demand(resolution_notice_over).notices[
        cases.notice_of(app, resolution_notice_over, "resolution")]["posted_at"]
    with pytest.raises(errors.OccurredOutOfOrder):
        app.record_progress(resolution_notice_over, actor="wang.worker", summary="paving", percent=10,
                            occurred_at=posted - HOUR)


def test_progress_dated_before_the_previous_progress_is_refused(
        app: Minqing, clock: Clock, repair_progressed: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.record_progress(repair_progressed, actor="wang.worker", summary="cover fitted", percent=90,
                            occurred_at=clock.now - HOUR)


def test_a_resolution_dated_before_the_last_progress_is_refused(
        app: Minqing, clock: Clock, repair_progressed: UUID) -> None:
    clock.advance(days=1)
    with pytest.raises(errors.OccurredOutOfOrder):
        app.resolve(repair_progressed, actor="wang.worker", summary="cover replaced",
                    occurred_at=clock.now - timedelta(days=1, hours=1))


def test_a_withdrawal_dated_before_the_last_step_is_refused(
        app: Minqing, clock: Clock, repair_progressed: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.close_case(repair_progressed, actor="resident", outcome="withdrawn", occurred_at=clock.now - HOUR)


def test_a_result_notice_dated_before_the_resolution_is_refused(
        app: Minqing, clock: Clock, resolved_village_works: UUID) -> None:
    resolved = clock.now
    clock.advance(days=1)
    with pytest.raises(errors.OccurredOutOfOrder):
        app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已硬化",
                      occurred_at=resolved - HOUR)


def test_feedback_dated_before_the_resolution_is_refused(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.give_feedback(resolved_repair, actor="wang.worker", rating="satisfied",
                          occurred_at=clock.now - HOUR)


def test_a_reopening_dated_before_the_feedback_it_answers_is_refused(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=1)
    app.give_feedback(resolved_repair, actor="wang.worker", rating="dissatisfied")
    with pytest.raises(errors.OccurredOutOfOrder):
        app.reopen(resolved_repair, actor="chen.supervisor", reason="回访复查", occurred_at=clock.now - HOUR)


# ---------------------------------------------------------------- households and visits
@pytest.fixture
def household_registered_yesterday(app: Minqing, clock: Clock) -> UUID:
    household_id = register(app, ["elderly_alone"])
    clock.advance(days=1)
    return household_id


def test_a_visit_scheduled_before_its_household_was_registered_is_refused(
        app: Minqing, clock: Clock, household_registered_yesterday: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.schedule_visit(household_registered_yesterday, actor="wang.worker", visitor="wang.worker",
                           purpose="routine", due_at=clock.now, occurred_at=clock.now - timedelta(days=2))


def test_a_household_recategorised_before_it_was_registered_is_refused(
        app: Minqing, clock: Clock, household_registered_yesterday: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.recategorise_household(household_registered_yesterday, actor="wang.worker",
                                   categories=["hardship"], occurred_at=clock.now - timedelta(days=2))


@pytest.fixture
def visit_scheduled_yesterday(app: Minqing, clock: Clock, household_registered_yesterday: UUID) -> UUID:
    visit_id = app.schedule_visit(household_registered_yesterday, actor="wang.worker", visitor="wang.worker",
                                  purpose="welfare_call", due_at=clock.now + timedelta(days=3)).id
    clock.advance(days=1)
    return visit_id


def test_a_visit_conducted_before_it_was_scheduled_is_refused(
        app: Minqing, clock: Clock, visit_scheduled_yesterday: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.conduct_visit(visit_scheduled_yesterday, actor="wang.worker", mode="in_home",
                          occurred_at=clock.now - timedelta(days=2))


def test_a_visit_missed_before_it_was_scheduled_is_refused(
        app: Minqing, clock: Clock, visit_scheduled_yesterday: UUID) -> None:
    with pytest.raises(errors.OccurredOutOfOrder):
        app.miss_visit(visit_scheduled_yesterday, actor="wang.worker", reason="nobody home",
                       occurred_at=clock.now - timedelta(days=2))


def test_a_demand_raised_from_a_visit_before_the_visit_took_place_is_refused(
        app: Minqing, clock: Clock, visit_scheduled_yesterday: UUID) -> None:
    app.conduct_visit(visit_scheduled_yesterday, actor="wang.worker", mode="in_home",
                      needs_found=["屋顶漏雨"])
    clock.advance(days=1)
    with pytest.raises(errors.OccurredOutOfOrder):
        app.raise_demand(actor="wang.worker", channel="visit", title="屋顶漏雨", cell_id=cases.VILLAGE_GROUP,
                         visit_id=visit_scheduled_yesterday, occurred_at=clock.now - timedelta(days=2))


# ---------------------------------------------------------------- snapshots taken before these rules
def _as_taken_before_the_rules(snapshot: Any, *fields: str) -> Any:
    """A snapshot as version 1 of the aggregate left it: without its class version and `fields`."""
    for name in ("class_version", *fields):
        snapshot.state.pop(name)
    return snapshot


def test_a_case_snapshotted_before_the_rules_loads_with_its_steps_dated_from_its_raising(
        app: Minqing, objection_lodged: UUID) -> None:
    snapshot = _as_taken_before_the_rules(Demand.Snapshot.take(app.demand(objection_lodged)), "step_at")
    for objection in snapshot.state["objections"].values():
        objection.pop("lodged_at")
    demand = snapshot.mutate(None)
    assert isinstance(demand, Demand)
    assert demand.step_at == demand.raised_at
    assert all(o["lodged_at"] == UNSET_TIME for o in demand.objections.values())


def test_a_visit_snapshotted_before_the_rules_loads_without_a_scheduling_time(
        app: Minqing, visit_scheduled_yesterday: UUID) -> None:
    snapshot = _as_taken_before_the_rules(HouseholdVisit.Snapshot.take(app.visit(visit_scheduled_yesterday)),
                                          "scheduled_at")
    visit = snapshot.mutate(None)
    assert isinstance(visit, HouseholdVisit)
    assert visit.scheduled_at == UNSET_TIME
