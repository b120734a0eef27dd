"""What may be done next on a case is exact: every action offered succeeds now, every action refused is
absent (the property over random histories is in test_next_actions_exact.py)."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import errors
from domain.application import RESIDENT, SYSTEM, Minqing
from domain.demand import NextAction
from tests.conftest import Clock
from tests.unit import cases


def offered(app: Minqing, demand_id: UUID, actor: str = SYSTEM) -> dict[str, dict[str, tuple[str, ...]]]:
    """The actions `actor` is offered on the case now, by name, with their choices."""
    return {action.name: action.choices for action in app.next_actions(app.demand(demand_id), actor)}


# ---------------------------------------------------------------- the gaps of issue 11
def test_resolving_is_not_offered_while_the_resolution_notice_runs(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    clock.advance(days=3)
    assert "resolve" not in app.allowed_actions(app.demand(resolution_notice_up), "wang.worker")
    with pytest.raises(errors.NoticePeriodNotOver):
        app.resolve(resolution_notice_up, actor="wang.worker", summary="road hardened")


def test_resolving_is_not_offered_while_an_objection_to_the_resolution_is_unanswered(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor=RESIDENT, phone="13900001111",
                        notice_id=notice_id, text="路线不对")
    clock.advance(days=8)
    assert "resolve" not in app.allowed_actions(app.demand(resolution_notice_up), "wang.worker")
    assert offered(app, resolution_notice_up, "chen.supervisor")["answer_objection"] == {
        "objection_id": ("objection-1",)}


def test_feedback_is_not_offered_once_the_window_is_over(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=7, seconds=1)
    assert "feedback" not in app.allowed_actions(app.demand(resolved_repair), "wang.worker")
    assert "feedback" not in app.allowed_actions(app.demand(resolved_repair), RESIDENT)
    with pytest.raises(errors.FeedbackWindowOver):
        app.give_feedback(resolved_repair, actor="wang.worker", rating="satisfied")


def test_an_objection_is_offered_while_a_notice_is_up_and_not_after(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    assert offered(app, resolution_notice_up, RESIDENT)["object"] == {"notice_id": (notice_id,)}
    clock.advance(days=7, seconds=1)
    assert "object" not in app.allowed_actions(app.demand(resolution_notice_up), RESIDENT)
    with pytest.raises(errors.NoticePeriodOver):
        app.lodge_objection(resolution_notice_up, actor=RESIDENT, phone="13900001111",
                            notice_id=notice_id, text="太晚了")


def test_the_result_notice_of_a_resolved_case_may_be_objected_to(
        app: Minqing, clock: Clock, resolved_village_works: UUID) -> None:
    clock.advance(hours=1)
    app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已硬化")
    result = cases.notice_of(app, resolved_village_works, "result")
    assert offered(app, resolved_village_works, RESIDENT)["object"] == {"notice_id": (result,)}


def test_the_rejection_notice_is_offered_right_after_a_rejected_vote(
        app: Minqing, rejected_by_vote: UUID) -> None:
    choices = offered(app, rejected_by_vote, "wang.worker")
    assert choices["publicize"] == {"kind": ("rejection",)}
    assert choices["discuss"] == {"step": ("branch_proposal",), "outcome": ("endorsed",)}


# ---------------------------------------------------------------- closing
def test_closing_as_rejected_is_offered_only_once_the_rejection_is_public(
        app: Minqing, clock: Clock, rejected_by_vote: UUID) -> None:
    assert offered(app, rejected_by_vote)["close"] == {"outcome": ("not_resolvable", "withdrawn", "merged")}
    clock.advance(hours=1)
    app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="未通过")
    assert offered(app, rejected_by_vote)["close"] == {
        "outcome": ("not_resolvable", "withdrawn", "rejected", "merged")}


def test_closing_as_not_resolvable_is_offered_to_a_supervisor_only(
        app: Minqing, repair_in_progress: UUID) -> None:
    assert offered(app, repair_in_progress, "chen.supervisor")["close"] == {
        "outcome": ("not_resolvable", "withdrawn", "merged")}
    assert offered(app, repair_in_progress, "wang.worker")["close"] == {"outcome": ("withdrawn", "merged")}
    assert offered(app, repair_in_progress, RESIDENT)["close"] == {"outcome": ("withdrawn",)}


# ---------------------------------------------------------------- other gaps found on the way
def test_a_step_after_the_draft_notice_waits_for_its_period(
        app: Minqing, clock: Clock, draft_notice_up: UUID) -> None:
    assert "discuss" not in app.allowed_actions(app.demand(draft_notice_up), "liu.community")
    clock.advance(days=7)
    assert offered(app, draft_notice_up, "liu.community")["discuss"] == {
        "step": ("expert_review",), "outcome": ("endorsed", "returned")}


def test_objections_to_a_closed_case_are_still_answered(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor=RESIDENT, phone="13900001111",
                        notice_id=notice_id, text="路线不对")
    app.close_case(resolution_notice_up, actor=RESIDENT, outcome="withdrawn")
    assert "answer_objection" in app.allowed_actions(app.demand(resolution_notice_up), "chen.supervisor")


def test_a_case_held_at_the_top_of_the_grid_is_not_escalated(
        app: Minqing, repair_in_progress: UUID) -> None:
    assert offered(app, repair_in_progress)["escalate"] == {"to_cell_id": ("qingshui.dongcun", "qingshui")}
    app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui", reason="needs funds")
    assert "escalate" not in app.allowed_actions(app.demand(repair_in_progress), "chen.supervisor")


def test_the_vote_offers_the_bodies_of_its_step(app: Minqing, representatives_vote_pending: UUID) -> None:
    assert offered(app, representatives_vote_pending)["vote"] == {
        "step": ("resolution_vote",), "body": ("representatives", "assembly")}


def test_feedback_offers_every_rating_while_asked(app: Minqing, resolved_repair: UUID) -> None:
    assert offered(app, resolved_repair, RESIDENT) == {
        "feedback": {"rating": ("satisfied", "basically_satisfied", "dissatisfied")}}


def test_an_action_is_a_name_and_its_choices(app: Minqing, raised_repair: UUID) -> None:
    actions = app.next_actions(app.demand(raised_repair), "wang.worker")
    assert NextAction("triage", {}) in actions
    assert [a.name for a in actions] == app.allowed_actions(app.demand(raised_repair), "wang.worker")
