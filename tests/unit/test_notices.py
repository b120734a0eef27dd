"""Public notices (公开, 公示): periods, objections, and which notice may follow which step."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases


# ---------------------------------------------------------------- the resolution notice (决议公开)
def test_making_the_resolution_public_moves_the_case_to_implementation(
        app: Minqing, resolution_notice_up: UUID) -> None:
    demand = app.demand(resolution_notice_up)
    assert (demand.status, demand.current_step) == ("implementing", "implementation")


def test_a_notice_runs_for_the_deployments_notice_period_by_default(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    notice = app.demand(resolution_notice_up).notices[notice_id]
    assert notice["ends_at"] - notice["posted_at"] == timedelta(days=7)


def test_a_notice_may_run_longer_than_the_default(app: Minqing, resolution_notice_pending: UUID) -> None:
    app.publicize(resolution_notice_pending, actor="wang.worker", kind="resolution", text="决议",
                  channels=["notice_board", "loudspeaker"], period_days=10)
    notice = app.demand(resolution_notice_pending).notices[
        cases.notice_of(app, resolution_notice_pending, "resolution")]
    assert notice["ends_at"] - notice["posted_at"] == timedelta(days=10)


def test_a_notice_stays_up_at_least_a_day(app: Minqing, resolution_notice_pending: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="resolution", text="决议",
                      period_days=0)


def test_a_notice_goes_out_on_known_channels_only(app: Minqing, resolution_notice_pending: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="resolution", text="决议",
                      channels=["notice_board", "carrier_pigeon"])


def test_a_notice_needs_its_text(app: Minqing, resolution_notice_pending: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="resolution", text="  ")


def test_the_resolution_is_not_made_public_before_it_is_voted(
        app: Minqing, representatives_vote_pending: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(representatives_vote_pending, actor="wang.worker", kind="resolution", text="决议")


def test_the_resolution_step_takes_a_resolution_notice_not_a_draft(
        app: Minqing, resolution_notice_pending: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="draft", text="草案")


def test_a_direct_track_case_has_no_resolution_notice(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.WrongTrack):
        app.publicize(repair_in_progress, actor="wang.worker", kind="resolution", text="决议")


def test_implementation_is_not_marked_done_before_the_resolution_notice_period_is_over(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    clock.advance(days=6, hours=23)
    with pytest.raises(errors.NoticePeriodNotOver):
        app.resolve(resolution_notice_up, actor="wang.worker", summary="road hardened")


def test_implementation_is_marked_done_once_the_resolution_notice_period_is_over(
        app: Minqing, resolution_notice_over: UUID) -> None:
    app.resolve(resolution_notice_over, actor="wang.worker", summary="road hardened")
    assert app.demand(resolution_notice_over).outcome == "resolved"


# ---------------------------------------------------------------- objections (异议)
def test_an_objection_is_lodged_while_the_notice_is_up(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    lodged = clock.advance(days=3)
    app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                        notice_id=notice_id, text="路线占了我家地")
    assert list(app.demand(resolution_notice_up).objections.values()) == [
        {"notice_id": notice_id, "lodged_at": lodged, "answered": False}]


def test_an_objection_is_refused_after_the_notice_period(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    clock.advance(days=7, minutes=1)
    with pytest.raises(errors.NoticePeriodOver):
        app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                            notice_id=notice_id, text="too late")


def test_an_objection_is_refused_once_the_notice_is_taken_down(
        app: Minqing, clock: Clock, resolution_notice_over: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_over, "resolution")
    app.end_notice(resolution_notice_over, notice_id=notice_id)
    with pytest.raises(errors.NoticePeriodOver):
        app.lodge_objection(resolution_notice_over, actor="resident", phone="13900001111",
                            notice_id=notice_id, text="too late",
                            occurred_at=clock.now - timedelta(days=1))


def test_an_objection_names_a_notice_of_the_case(app: Minqing, resolution_notice_up: UUID) -> None:
    with pytest.raises(errors.NotFound):
        app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                            notice_id="resolution-9-9", text="?")


def test_an_unanswered_objection_keeps_the_case_from_being_resolved(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                        notice_id=notice_id, text="路线占了我家地")
    clock.advance(days=8)
    with pytest.raises(errors.ObjectionsUnanswered):
        app.resolve(resolution_notice_up, actor="wang.worker", summary="road hardened")


def test_an_answered_objection_lets_the_case_be_resolved(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                        notice_id=notice_id, text="路线占了我家地")
    objection_id = next(iter(app.demand(resolution_notice_up).objections))
    app.answer_objection(resolution_notice_up, actor="chen.supervisor", objection_id=objection_id,
                         answer="路线已调整")
    clock.advance(days=8)
    app.resolve(resolution_notice_up, actor="wang.worker", summary="road hardened")
    assert app.demand(resolution_notice_up).outcome == "resolved"


def test_only_a_supervisor_answers_an_objection(app: Minqing, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                        notice_id=notice_id, text="路线占了我家地")
    objection_id = next(iter(app.demand(resolution_notice_up).objections))
    with pytest.raises(errors.NotAuthorised):
        app.answer_objection(resolution_notice_up, actor="wang.worker", objection_id=objection_id,
                             answer="no")


def test_an_objection_is_answered_once(app: Minqing, resolution_notice_up: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_up, "resolution")
    app.lodge_objection(resolution_notice_up, actor="resident", phone="13900001111",
                        notice_id=notice_id, text="路线占了我家地")
    objection_id = next(iter(app.demand(resolution_notice_up).objections))
    app.answer_objection(resolution_notice_up, actor="chen.supervisor", objection_id=objection_id,
                         answer="ok")
    with pytest.raises(errors.InvalidInput):
        app.answer_objection(resolution_notice_up, actor="chen.supervisor", objection_id=objection_id,
                             answer="again")


# ---------------------------------------------------------------- taking a notice down
def test_a_notice_is_not_taken_down_before_its_period_ends(
        app: Minqing, clock: Clock, resolution_notice_up: UUID) -> None:
    clock.advance(days=6)
    with pytest.raises(errors.NoticePeriodNotOver):
        app.end_notice(resolution_notice_up,
                       notice_id=cases.notice_of(app, resolution_notice_up, "resolution"))


def test_a_notice_is_taken_down_once_its_period_ends(app: Minqing, resolution_notice_over: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_over, "resolution")
    app.end_notice(resolution_notice_over, notice_id=notice_id)
    assert app.demand(resolution_notice_over).notices[notice_id]["ended"] is True


def test_a_notice_is_taken_down_once(app: Minqing, resolution_notice_over: UUID) -> None:
    notice_id = cases.notice_of(app, resolution_notice_over, "resolution")
    app.end_notice(resolution_notice_over, notice_id=notice_id)
    with pytest.raises(errors.InvalidInput):
        app.end_notice(resolution_notice_over, notice_id=notice_id)


# ---------------------------------------------------------------- the draft notice of 六步议事
def test_the_draft_is_posted_for_comment_after_the_council_drafts_the_plan(
        app: Minqing, draft_notice_up: UUID) -> None:
    assert app.demand(draft_notice_up).current_step == "expert_review"


def test_the_experts_do_not_review_the_draft_before_its_notice_period_is_over(
        app: Minqing, clock: Clock, draft_notice_up: UUID) -> None:
    clock.advance(days=6)
    with pytest.raises(errors.NoticePeriodNotOver):
        app.discuss(draft_notice_up, actor="liu.community", step="expert_review")


def test_the_experts_review_the_draft_once_its_notice_period_is_over(
        app: Minqing, clock: Clock, draft_notice_up: UUID) -> None:
    clock.advance(days=7)
    app.discuss(draft_notice_up, actor="liu.community", step="expert_review")
    assert app.demand(draft_notice_up).current_step == "residents_vote"


def test_an_unanswered_comment_on_the_draft_holds_up_expert_review(
        app: Minqing, clock: Clock, draft_notice_up: UUID) -> None:
    app.lodge_objection(draft_notice_up, actor="resident", phone="13900001111",
                        notice_id=cases.notice_of(app, draft_notice_up, "draft"), text="电动车也要有车位")
    clock.advance(days=7)
    with pytest.raises(errors.ObjectionsUnanswered):
        app.discuss(draft_notice_up, actor="liu.community", step="expert_review")


def test_the_draft_step_takes_a_draft_notice_not_a_resolution(
        app: Minqing, clock: Clock, awaiting_topic: UUID) -> None:
    cases.community_endorse(app, clock, awaiting_topic, cases.SIX_STEP_DISCUSSIONS)
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(awaiting_topic, actor="liu.community", kind="resolution", text="决议")


# ---------------------------------------------------------------- the result notice (实施结果公开)
def test_the_result_is_not_made_public_before_the_case_is_resolved(
        app: Minqing, resolution_notice_over: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(resolution_notice_over, actor="wang.worker", kind="result", text="道路已硬化")


def test_the_result_is_made_public_after_the_case_is_resolved(
        app: Minqing, resolved_village_works: UUID) -> None:
    app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已硬化 花费8万元")
    demand = app.demand(resolved_village_works)
    assert demand.result_published is True
    assert [n["kind"] for n in demand.notices.values()] == ["resolution", "result"]


def test_the_result_is_made_public_once(app: Minqing, resolved_village_works: UUID) -> None:
    app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已硬化")
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="again")


def test_the_six_steps_have_no_result_notice(
        app: Minqing, clock: Clock, residents_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(residents_vote_pending, actor="liu.community", body="residents_representatives", members=30,
             present=21, in_favour=14, against=7, abstained=0)
    app.resolve(residents_vote_pending, actor="liu.community", summary="公约已执行")
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(residents_vote_pending, actor="liu.community", kind="result", text="结果")


def test_a_direct_track_case_has_no_result_notice(app: Minqing, resolved_repair: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(resolved_repair, actor="wang.worker", kind="result", text="结果")


# ---------------------------------------------------------------- the rejection notice
def test_a_rejection_is_made_public_right_after_a_rejected_vote(app: Minqing, rejected_by_vote: UUID) -> None:
    app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="决议未通过")
    assert cases.notice_of(app, rejected_by_vote, "rejection")


def test_there_is_no_rejection_to_make_public_after_an_adopted_vote(
        app: Minqing, resolution_notice_pending: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(resolution_notice_pending, actor="wang.worker", kind="rejection", text="未通过")


def test_there_is_no_rejection_to_make_public_before_any_vote(
        app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(awaiting_branch_proposal, actor="wang.worker", kind="rejection", text="未通过")


def test_the_rejection_is_not_made_public_once_the_next_round_has_begun(
        app: Minqing, clock: Clock, rejected_by_vote: UUID) -> None:
    cases.endorse(app, clock, rejected_by_vote, ("branch_proposal",))
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="未通过")


def test_an_old_rejection_is_not_made_public_after_a_later_round_is_returned(
        app: Minqing, clock: Clock, rejected_by_vote: UUID) -> None:
    cases.endorse(app, clock, rejected_by_vote, ("branch_proposal",))
    app.discuss(rejected_by_vote, actor="wang.worker", step="two_committees", outcome="returned")
    with pytest.raises(errors.StepOutOfOrder):
        app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="未通过")


def test_a_case_is_closed_as_rejected_once_the_rejection_is_public(
        app: Minqing, rejected_by_vote: UUID) -> None:
    app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="决议未通过")
    app.close_case(rejected_by_vote, actor="wang.worker", outcome="rejected")
    demand = app.demand(rejected_by_vote)
    assert (demand.status, demand.outcome) == ("closed", "rejected")


def test_a_rejected_vote_not_yet_made_public_does_not_close_the_case(
        app: Minqing, rejected_by_vote: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(rejected_by_vote, actor="wang.worker", outcome="rejected")


def test_a_case_without_a_rejected_vote_is_not_closed_as_rejected(
        app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(awaiting_branch_proposal, actor="wang.worker", outcome="rejected")


def test_a_case_is_not_closed_as_rejected_once_a_new_round_is_under_way(
        app: Minqing, clock: Clock, rejected_by_vote: UUID) -> None:
    app.publicize(rejected_by_vote, actor="wang.worker", kind="rejection", text="决议未通过")
    cases.endorse(app, clock, rejected_by_vote, ("branch_proposal",))
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(rejected_by_vote, actor="wang.worker", outcome="rejected")
