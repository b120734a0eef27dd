"""The resident's feedback after a case is closed, and reopening a case that was not really done."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases


# ---------------------------------------------------------------- feedback (满意度回访)
def test_feedback_is_not_expected_before_the_case_is_resolved(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.FeedbackNotExpected):
        app.give_feedback(repair_in_progress, actor="resident", rating="satisfied")


def test_a_resolved_case_asks_the_resident_for_feedback_within_the_window(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    demand = app.demand(resolved_repair)
    assert (demand.feedback_state, demand.feedback_due) == ("asked", clock.now + timedelta(days=7))


def test_the_resident_rates_a_resolved_case(app: Minqing, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="resident", rating="basically_satisfied", comment="修得还行")
    demand = app.demand(resolved_repair)
    assert (demand.feedback_state, demand.rating) == ("given", "basically_satisfied")


def test_a_worker_records_feedback_given_by_phone(app: Minqing, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="wang.worker", rating="satisfied", comment="电话回访")
    assert app.history(resolved_repair)[-1].actor == "wang.worker"


def test_the_resident_rates_a_case_closed_as_not_resolvable(
        app: Minqing, not_resolvable_repair: UUID) -> None:
    app.give_feedback(not_resolvable_repair, actor="resident", rating="dissatisfied", comment="没人管")
    assert app.demand(not_resolvable_repair).rating == "dissatisfied"


def test_feedback_is_given_once(app: Minqing, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="resident", rating="satisfied")
    with pytest.raises(errors.FeedbackNotExpected):
        app.give_feedback(resolved_repair, actor="resident", rating="dissatisfied")


def test_feedback_is_satisfied_basically_satisfied_or_dissatisfied(
        app: Minqing, resolved_repair: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.give_feedback(resolved_repair, actor="resident", rating="delighted")


def test_feedback_on_the_last_moment_of_the_window_is_accepted(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=7)
    app.give_feedback(resolved_repair, actor="resident", rating="satisfied")
    assert app.demand(resolved_repair).rating == "satisfied"


def test_feedback_after_the_window_is_refused(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=7, minutes=1)
    with pytest.raises(errors.FeedbackWindowOver):
        app.give_feedback(resolved_repair, actor="resident", rating="satisfied")


def test_silence_is_not_recorded_as_expired_before_the_window_ends(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=7)
    with pytest.raises(errors.DeadlineNotPassed):
        app.expire_feedback(resolved_repair)


def test_silence_after_the_window_is_recorded_as_expired_never_as_satisfied(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=8)
    app.expire_feedback(resolved_repair)
    demand = app.demand(resolved_repair)
    assert (demand.feedback_state, demand.rating) == ("expired", None)
    assert app.history(resolved_repair)[-1].type == "FeedbackExpired"


def test_feedback_is_not_taken_once_it_expired(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    clock.advance(days=8)
    app.expire_feedback(resolved_repair)
    with pytest.raises(errors.FeedbackNotExpected):
        app.give_feedback(resolved_repair, actor="resident", rating="satisfied",
                          occurred_at=clock.now - timedelta(days=2))


def test_feedback_that_was_given_does_not_expire(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="resident", rating="satisfied")
    clock.advance(days=8)
    with pytest.raises(errors.FeedbackNotExpected):
        app.expire_feedback(resolved_repair)


def test_a_withdrawn_case_does_not_ask_for_feedback(app: Minqing, withdrawn_repair: UUID) -> None:
    with pytest.raises(errors.FeedbackNotExpected):
        app.give_feedback(withdrawn_repair, actor="resident", rating="satisfied")


def test_a_withdrawn_case_has_no_feedback_to_expire(
        app: Minqing, clock: Clock, withdrawn_repair: UUID) -> None:
    clock.advance(days=8)
    with pytest.raises(errors.FeedbackNotExpected):
        app.expire_feedback(withdrawn_repair)


def test_a_merged_case_does_not_ask_for_feedback(app: Minqing, repair_in_progress: UUID) -> None:
    duplicate = cases.raise_repair(app)
    app.close_case(duplicate, actor="wang.worker", outcome="merged", merged_into=repair_in_progress)
    assert app.demand(duplicate).feedback_state is None


# ---------------------------------------------------------------- reopening (回访复查)
def test_a_supervisor_reopens_a_resolved_case_with_new_deadlines(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="resident", rating="dissatisfied", comment="又坏了")
    reopened_at = clock.advance(days=1)
    app.reopen(resolved_repair, actor="chen.supervisor", reason="the cover broke again")
    demand = app.demand(resolved_repair)
    assert (demand.status, demand.outcome) == ("in_progress", None)
    assert demand.deadlines == {"resolution": reopened_at + timedelta(days=5)}


def test_a_case_closed_as_not_resolvable_may_be_reopened(app: Minqing, not_resolvable_repair: UUID) -> None:
    app.reopen(not_resolvable_repair, actor="chen.supervisor", reason="the county agreed to fund it")
    assert app.demand(not_resolvable_repair).status == "in_progress"


def test_reopenings_are_counted(app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    app.reopen(resolved_repair, actor="chen.supervisor", reason="return recheck found it broken")
    clock.advance(days=1)
    app.resolve(resolved_repair, actor="wang.worker", summary="replaced with a steel cover")
    app.reopen(resolved_repair, actor="chen.supervisor", reason="broken once more")
    assert app.demand(resolved_repair).reopen_count == 2


def test_a_reopened_case_asks_for_feedback_again_when_resolved_again(
        app: Minqing, clock: Clock, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="resident", rating="dissatisfied")
    app.reopen(resolved_repair, actor="chen.supervisor", reason="dissatisfied")
    clock.advance(days=1)
    app.resolve(resolved_repair, actor="wang.worker", summary="fixed properly")
    app.give_feedback(resolved_repair, actor="resident", rating="satisfied")
    assert app.demand(resolved_repair).rating == "satisfied"


def test_only_a_supervisor_reopens_a_case(app: Minqing, resolved_repair: UUID) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.reopen(resolved_repair, actor="wang.worker", reason="I want to")


def test_a_resident_does_not_reopen_a_case(app: Minqing, resolved_repair: UUID) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.reopen(resolved_repair, actor="resident", reason="still broken")


def test_an_open_case_is_not_reopened(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.CaseNotClosed):
        app.reopen(repair_in_progress, actor="chen.supervisor", reason="?")


def test_a_withdrawn_case_is_not_reopened(app: Minqing, withdrawn_repair: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.reopen(withdrawn_repair, actor="chen.supervisor", reason="?")


def test_a_reopening_says_why(app: Minqing, resolved_repair: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.reopen(resolved_repair, actor="chen.supervisor", reason=" ")


def test_a_reopened_village_project_returns_to_implementation(
        app: Minqing, resolved_village_works: UUID) -> None:
    app.reopen(resolved_village_works, actor="chen.supervisor", reason="the road surface cracked")
    assert app.demand(resolved_village_works).current_step == "implementation"


def test_a_reopened_village_project_makes_its_new_result_public_after_resolving_again(
        app: Minqing, clock: Clock, resolved_village_works: UUID) -> None:
    app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已硬化")
    app.reopen(resolved_village_works, actor="chen.supervisor", reason="the road surface cracked")
    clock.advance(days=3)
    app.resolve(resolved_village_works, actor="wang.worker", summary="resurfaced")
    app.publicize(resolved_village_works, actor="wang.worker", kind="result", text="道路已修复")
    assert app.demand(resolved_village_works).result_published is True


def test_a_matter_closed_as_not_resolvable_during_deliberation_is_reopened_where_it_stood(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    app.close_case(awaiting_branch_proposal, actor="chen.supervisor", outcome="not_resolvable",
                   explanation="no funds this year")
    app.reopen(awaiting_branch_proposal, actor="chen.supervisor", reason="funds found")
    demand = app.demand(awaiting_branch_proposal)
    assert (demand.status, demand.current_step) == ("deliberating", "two_committees")


def test_a_matter_reopened_during_deliberation_is_not_resolved_without_its_vote(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    app.close_case(awaiting_branch_proposal, actor="chen.supervisor", outcome="not_resolvable",
                   explanation="no funds this year")
    app.reopen(awaiting_branch_proposal, actor="chen.supervisor", reason="funds found")
    with pytest.raises(errors.StepOutOfOrder):
        app.resolve(awaiting_branch_proposal, actor="wang.worker", summary="built without a vote")


def test_a_matter_reopened_during_deliberation_gets_new_step_deadlines(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    app.close_case(awaiting_branch_proposal, actor="chen.supervisor", outcome="not_resolvable",
                   explanation="no funds this year")
    reopened_at = clock.advance(days=30)
    app.reopen(awaiting_branch_proposal, actor="chen.supervisor", reason="funds found")
    assert app.demand(awaiting_branch_proposal).deadlines == {
        "step": reopened_at + timedelta(days=15), "deliberation": reopened_at + timedelta(days=120)}


def test_a_case_closed_as_not_resolvable_before_triage_is_reopened_for_triage(
        app: Minqing, clock: Clock, raised_repair: UUID) -> None:
    app.close_case(raised_repair, actor="chen.supervisor", outcome="not_resolvable",
                   explanation="outside the township's remit")
    reopened_at = clock.advance(days=2)
    app.reopen(raised_repair, actor="chen.supervisor", reason="the township took it on")
    demand = app.demand(raised_repair)
    assert (demand.status, demand.deadlines) == (
        "raised", {"first_response": reopened_at + timedelta(hours=24)})


def test_reopening_clears_the_rating_the_case_had(app: Minqing, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor="wang.worker", rating="dissatisfied")
    app.reopen(resolved_repair, actor="chen.supervisor", reason="居民不满意")
    demand = app.demand(resolved_repair)
    assert (demand.rating, demand.feedback_state) == (None, None)
