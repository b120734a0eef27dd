"""Deadlines from the category policy, the deadline watcher, and accountability flags (问责)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import SYSTEM, Minqing
from tests.conftest import Clock
from tests.unit import cases


# ---------------------------------------------------------------- deadlines from policy
def test_a_raised_case_is_due_a_first_response_within_24_hours(
        app: Minqing, clock: Clock, raised_repair: UUID) -> None:
    assert app.demand(raised_repair).deadlines == {"first_response": clock.now + timedelta(hours=24)}


@pytest.mark.parametrize(("category", "days"), [
    ("repairs", 5), ("disputes", 10), ("employment", 30), ("rights_protection", 15), ("environment", 7),
    ("welfare", 7),
])
def test_triage_onto_the_direct_track_sets_the_categorys_resolution_deadline(
        app: Minqing, clock: Clock, raised_repair: UUID, category: str, days: int) -> None:
    app.triage(raised_repair, actor="wang.worker", category=category)
    assert app.demand(raised_repair).deadlines == {"resolution": clock.now + timedelta(days=days)}


def test_triage_onto_deliberation_sets_a_step_deadline_and_the_categorys_total(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    assert app.demand(awaiting_branch_proposal).deadlines == {
        "step": clock.now + timedelta(days=15), "deliberation": clock.now + timedelta(days=120)}


def test_a_category_without_its_own_total_uses_the_deployments_90_days(app: Minqing, clock: Clock) -> None:
    demand = app.demand(cases.village_works(app, category="village_affairs"))
    assert demand.deadlines["deliberation"] == clock.now + timedelta(days=90)


def test_triage_keeps_the_policy_it_applied_on_the_case(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    assert app.demand(awaiting_branch_proposal).policy["deliberation_total_days"] == 120


def test_each_step_taken_gives_the_next_step_its_own_15_days(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    total = app.demand(awaiting_branch_proposal).deadlines["deliberation"]
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    assert app.demand(awaiting_branch_proposal).deadlines == {
        "step": clock.now + timedelta(days=15), "deliberation": total}


def test_a_vote_without_quorum_does_not_extend_the_step_deadline(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    before = app.demand(representatives_vote_pending).deadlines
    cases.representatives_vote(app, clock, representatives_vote_pending, present=19, in_favour=19)
    assert app.demand(representatives_vote_pending).deadlines == before


def test_leaving_deliberation_drops_the_deliberation_deadlines(
        app: Minqing, resolution_notice_up: UUID) -> None:
    deadlines = app.demand(resolution_notice_up).deadlines
    assert "step" not in deadlines and "deliberation" not in deadlines


# ---------------------------------------------------------------- the deadline watcher
def test_the_watcher_records_nothing_before_a_deadline_passes(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=4, hours=23)
    assert app.record_missed_deadlines(repair_in_progress) is None


def test_a_missed_first_response_is_recorded(app: Minqing, clock: Clock, raised_repair: UUID) -> None:
    due = app.demand(raised_repair).deadlines["first_response"]
    clock.advance(hours=25)
    app.record_missed_deadlines(raised_repair)
    assert app.demand(raised_repair).missed == [{"deadline": "first_response", "due_at": due}]


def test_a_missed_deadline_escalates_the_case_automatically_one_level_up(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    app.record_missed_deadlines(repair_in_progress)
    demand = app.demand(repair_in_progress)
    assert demand.responsible_cell_id == "qingshui.dongcun"
    assert demand.escalations == [
        {"from": "qingshui.dongcun.g1", "to": "qingshui.dongcun", "automatic": True}]


def test_the_watcher_records_the_miss_and_the_escalation_as_the_system(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    app.record_missed_deadlines(repair_in_progress)
    recorded = [(e.type, e.actor, e.data.get("automatic")) for e in app.history(repair_in_progress)[-2:]]
    assert recorded == [("DeadlineMissed", SYSTEM, None), ("Escalated", SYSTEM, True)]


def test_running_the_watcher_twice_records_nothing_new(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    app.record_missed_deadlines(repair_in_progress)
    version = app.demand(repair_in_progress).version
    assert app.record_missed_deadlines(repair_in_progress) is None
    assert app.demand(repair_in_progress).version == version


def test_each_deadline_that_passed_is_recorded_and_escalated_once(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    clock.advance(days=121)
    app.record_missed_deadlines(awaiting_branch_proposal)
    demand = app.demand(awaiting_branch_proposal)
    assert sorted(m["deadline"] for m in demand.missed) == ["deliberation", "step"]
    assert [e["to"] for e in demand.escalations] == ["qingshui"]   # the village's parent; none above it


def test_a_new_step_deadline_may_be_missed_again(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    clock.advance(days=16)
    app.record_missed_deadlines(awaiting_branch_proposal)
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    clock.advance(days=16)
    app.record_missed_deadlines(awaiting_branch_proposal)
    assert [m["deadline"] for m in app.demand(awaiting_branch_proposal).missed] == ["step", "step"]


def test_a_case_at_the_top_of_the_grid_is_recorded_as_late_but_not_escalated(
        app: Minqing, clock: Clock) -> None:
    demand_id = cases.triaged_repair(app, cell_id="qingshui", actor="chen.supervisor")
    clock.advance(days=6)
    app.record_missed_deadlines(demand_id)
    demand = app.demand(demand_id)
    assert (len(demand.missed), demand.escalations) == (1, [])


def test_a_closed_case_misses_no_deadlines(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=30)
    assert app.record_missed_deadlines(resolved_repair) is None


def test_a_deadline_met_in_time_is_not_missed(app: Minqing, clock: Clock, raised_repair: UUID) -> None:
    clock.advance(hours=2)
    app.triage(raised_repair, actor="wang.worker", category="repairs")
    clock.advance(days=2)
    assert app.record_missed_deadlines(raised_repair) is None


def test_a_reopened_case_can_miss_its_new_deadline(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    app.reopen(resolved_repair, actor="chen.supervisor", reason="broken again")
    clock.advance(days=6)
    app.record_missed_deadlines(resolved_repair)
    assert [m["deadline"] for m in app.demand(resolved_repair).missed] == ["resolution"]


# ---------------------------------------------------------------- accountability (问责)
def test_a_supervisor_flags_an_open_case_past_its_deadline(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    app.flag(repair_in_progress, actor="chen.supervisor", responsible="东村村委会",
             finding="应予解决而未解决: manhole open for six days")
    assert app.demand(repair_in_progress).flags == [
        {"responsible": "东村村委会", "finding": "应予解决而未解决: manhole open for six days"}]


def test_a_case_past_its_deadline_is_flagged_before_the_watcher_has_run(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=5)
    app.flag(repair_in_progress, actor="chen.supervisor", responsible="东村村委会", finding="late")
    assert len(app.demand(repair_in_progress).flags) == 1


def test_a_case_within_its_deadlines_is_not_flagged(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=4)
    with pytest.raises(errors.NotOverdue):
        app.flag(repair_in_progress, actor="chen.supervisor", responsible="东村村委会", finding="late")


def test_a_closed_case_is_not_flagged(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=30)
    with pytest.raises(errors.NotOverdue):
        app.flag(resolved_repair, actor="chen.supervisor", responsible="东村村委会", finding="late")


def test_only_a_supervisor_flags_a_case(app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    with pytest.raises(errors.NotAuthorised):
        app.flag(repair_in_progress, actor="wang.worker", responsible="东村村委会", finding="late")


def test_a_flag_names_who_is_responsible_and_the_finding(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=6)
    with pytest.raises(errors.InvalidInput):
        app.flag(repair_in_progress, actor="chen.supervisor", responsible=" ", finding="late")
