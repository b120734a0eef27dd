"""Deliberation templates: 四议两公开 for villages and 六步议事 for the community, step by step."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from domain.votes import INVALID
from tests.conftest import Clock
from tests.unit import cases


# ---------------------------------------------------------------- triage picks the template
def test_village_public_works_are_deliberated_by_four_deliberations_two_disclosures(
        app: Minqing, awaiting_branch_proposal: UUID) -> None:
    demand = app.demand(awaiting_branch_proposal)
    assert (demand.status, demand.template_key, demand.current_step) == (
        "deliberating", "four_deliberations_two_disclosures", "branch_proposal")


def test_village_affairs_are_deliberated_by_four_deliberations_two_disclosures(app: Minqing) -> None:
    demand = app.demand(cases.village_works(app, category="village_affairs"))
    assert demand.template_key == "four_deliberations_two_disclosures"


def test_a_community_compact_is_deliberated_by_the_six_steps(app: Minqing, awaiting_topic: UUID) -> None:
    demand = app.demand(awaiting_topic)
    assert (demand.status, demand.template_key, demand.current_step) == (
        "deliberating", "six_step_deliberation", "topic_raised")


def test_a_case_is_triaged_only_once(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.AlreadyTriaged):
        app.triage(awaiting_branch_proposal, actor="wang.worker", category="village_affairs")


def test_an_untriaged_case_has_no_deliberation_steps_yet(app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.NotTriaged):
        app.discuss(raised_repair, actor="wang.worker", step="branch_proposal")


def test_a_direct_track_case_is_not_deliberated(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.WrongTrack):
        app.discuss(repair_in_progress, actor="wang.worker", step="branch_proposal")


def test_a_direct_track_case_is_not_voted_on(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.WrongTrack):
        app.vote(repair_in_progress, actor="wang.worker", body="representatives", members=30, present=20,
                 in_favour=20, against=0, abstained=0)


def test_a_direct_category_may_be_sent_to_deliberation_at_triage(app: Minqing, raised_repair: UUID) -> None:
    app.triage(raised_repair, actor="wang.worker", category="repairs", track="deliberation")
    assert app.demand(raised_repair).current_step == "branch_proposal"


# ---------------------------------------------------------------- steps in order
def test_the_village_steps_follow_one_another_in_order(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    seen = []
    for step in cases.VILLAGE_DISCUSSIONS:
        cases.endorse(app, clock, awaiting_branch_proposal, (step,))
        seen.append(app.demand(awaiting_branch_proposal).current_step)
    assert seen == ["two_committees", "members_assembly", "resolution_vote"]


def test_a_discussion_step_cannot_be_skipped(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees")


def test_a_vote_cannot_come_before_the_discussions(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.vote(awaiting_branch_proposal, actor="wang.worker", body="representatives", members=30,
                 present=20, in_favour=20, against=0, abstained=0)


def test_a_step_already_taken_cannot_be_recorded_again(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal")


def test_the_vote_step_is_not_recorded_as_a_discussion(
        app: Minqing, representatives_vote_pending: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(representatives_vote_pending, actor="wang.worker", step="resolution_vote")


def test_a_discussion_outcome_is_endorsed_or_returned(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal",
                    outcome="postponed")


def test_a_refused_step_records_nothing(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    before = app.demand(awaiting_branch_proposal).version
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="members_assembly")
    assert app.demand(awaiting_branch_proposal).version == before


def test_each_meeting_records_when_it_was_held_who_recorded_it_and_who_attended(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    held = clock.now.replace(hour=19)  # an evening meeting, recorded the next morning
    clock.advance(days=1)
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal",
                attendees=["李书记", "王委员"], summary="proposed", occurred_at=held)
    entry = app.history(awaiting_branch_proposal)[-1]
    assert (entry.type, entry.actor, entry.occurred_at) == ("Discussed", "wang.worker", held)
    assert (entry.data["step"], entry.data["round"], entry.data["attendees"]) == (
        "branch_proposal", 1, ["李书记", "王委员"])


# ---------------------------------------------------------------- returns and new rounds
def test_the_branch_proposal_cannot_return_the_matter(app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="branch_proposal", outcome="returned")


def test_the_two_committees_returning_the_matter_starts_a_new_round_at_the_proposal(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees", outcome="returned")
    demand = app.demand(awaiting_branch_proposal)
    assert (demand.round, demand.current_step) == (2, "branch_proposal")


def test_the_members_assembly_returning_the_matter_starts_a_new_round(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal", "two_committees"))
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="members_assembly", outcome="returned")
    demand = app.demand(awaiting_branch_proposal)
    assert (demand.round, demand.current_step) == (2, "branch_proposal")


def test_rounds_are_counted_across_returns(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    for _ in range(2):
        cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees", outcome="returned")
    assert app.demand(awaiting_branch_proposal).round == 3


def test_a_new_round_goes_through_every_step_again(
        app: Minqing, clock: Clock, awaiting_branch_proposal: UUID) -> None:
    cases.endorse(app, clock, awaiting_branch_proposal, ("branch_proposal",))
    app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees", outcome="returned")
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(awaiting_branch_proposal, actor="wang.worker", step="two_committees")


def test_a_rejected_vote_starts_a_new_round_at_the_proposal(app: Minqing, rejected_by_vote: UUID) -> None:
    demand = app.demand(rejected_by_vote)
    assert (demand.round, demand.current_step, demand.last_vote) == (2, "branch_proposal", "rejected")


def test_a_vote_without_quorum_stays_at_the_vote_step_in_the_same_round(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    cases.representatives_vote(app, clock, representatives_vote_pending, present=19, in_favour=19)
    demand = app.demand(representatives_vote_pending)
    assert (demand.last_vote, demand.round, demand.current_step) == (INVALID, 1, "resolution_vote")


def test_a_vote_without_quorum_may_be_held_again(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    cases.representatives_vote(app, clock, representatives_vote_pending, present=19, in_favour=19)
    cases.representatives_vote(app, clock, representatives_vote_pending, present=24, in_favour=13)
    demand = app.demand(representatives_vote_pending)
    assert (demand.last_vote, demand.current_step) == ("adopted", "resolution_notice")


def test_the_round_of_each_step_is_recorded(app: Minqing, clock: Clock, rejected_by_vote: UUID) -> None:
    cases.endorse(app, clock, rejected_by_vote, ("branch_proposal",))
    rounds = [(e.data["step"], e.data["round"]) for e in app.history(rejected_by_vote)
              if e.type in ("Discussed", "Voted")]
    assert rounds[-2:] == [("resolution_vote", 1), ("branch_proposal", 2)]


# ---------------------------------------------------------------- 六步议事
def test_the_six_steps_follow_one_another_in_order(app: Minqing, clock: Clock, awaiting_topic: UUID) -> None:
    seen = []
    for step in cases.SIX_STEP_DISCUSSIONS:
        cases.community_endorse(app, clock, awaiting_topic, (step,))
        seen.append(app.demand(awaiting_topic).current_step)
    assert seen == ["consultation_forum", "plan_drafted", "draft_notice"]


def test_the_consultation_forum_may_return_the_topic(
        app: Minqing, clock: Clock, awaiting_topic: UUID) -> None:
    cases.community_endorse(app, clock, awaiting_topic, ("topic_raised",))
    app.discuss(awaiting_topic, actor="liu.community", step="consultation_forum", outcome="returned")
    demand = app.demand(awaiting_topic)
    assert (demand.round, demand.current_step) == (2, "topic_raised")


def test_the_residents_council_drafting_the_plan_cannot_return_it(
        app: Minqing, clock: Clock, awaiting_topic: UUID) -> None:
    cases.community_endorse(app, clock, awaiting_topic, ("topic_raised", "consultation_forum"))
    with pytest.raises(errors.InvalidInput):
        app.discuss(awaiting_topic, actor="liu.community", step="plan_drafted", outcome="returned")


def test_the_draft_cannot_go_to_expert_review_without_being_posted(
        app: Minqing, clock: Clock, awaiting_topic: UUID) -> None:
    cases.community_endorse(app, clock, awaiting_topic, cases.SIX_STEP_DISCUSSIONS)
    with pytest.raises(errors.StepOutOfOrder):
        app.discuss(awaiting_topic, actor="liu.community", step="expert_review")


def test_expert_review_may_return_the_plan_for_a_new_round(
        app: Minqing, clock: Clock, draft_notice_up: UUID) -> None:
    clock.advance(days=7)
    app.discuss(draft_notice_up, actor="liu.community", step="expert_review", outcome="returned")
    demand = app.demand(draft_notice_up)
    assert (demand.round, demand.current_step) == (2, "topic_raised")


def test_a_rejected_residents_vote_starts_a_new_round(
        app: Minqing, clock: Clock, residents_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(residents_vote_pending, actor="liu.community", body="residents_representatives", members=30,
             present=21, in_favour=13, against=8, abstained=0)
    demand = app.demand(residents_vote_pending)
    assert (demand.last_vote, demand.round, demand.current_step) == ("rejected", 2, "topic_raised")


def test_a_residents_vote_without_quorum_stays_at_the_vote(
        app: Minqing, clock: Clock, residents_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(residents_vote_pending, actor="liu.community", body="residents_representatives", members=30,
             present=15, in_favour=15, against=0, abstained=0)
    demand = app.demand(residents_vote_pending)
    assert (demand.last_vote, demand.round, demand.current_step) == (INVALID, 1, "residents_vote")


def test_an_adopted_compact_goes_straight_to_implementation(
        app: Minqing, clock: Clock, residents_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(residents_vote_pending, actor="liu.community", body="residents_representatives", members=30,
             present=16, in_favour=11, against=5, abstained=0)
    assert app.demand(residents_vote_pending).current_step == "implementation"


# ---------------------------------------------------------------- implementation
def test_implementation_progress_is_not_recorded_during_deliberation(
        app: Minqing, awaiting_branch_proposal: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.record_progress(awaiting_branch_proposal, actor="wang.worker", summary="started", percent=10)


def test_a_deliberation_case_cannot_be_resolved_before_its_steps_are_done(
        app: Minqing, representatives_vote_pending: UUID) -> None:
    with pytest.raises(errors.StepOutOfOrder):
        app.resolve(representatives_vote_pending, actor="wang.worker", summary="done anyway")


def test_implementation_progress_is_recorded_once_the_resolution_is_public(
        app: Minqing, resolution_notice_up: UUID) -> None:
    app.record_progress(resolution_notice_up, actor="wang.worker", summary="gravel laid", percent=40)
    assert app.demand(resolution_notice_up).progress_log == [40]


@pytest.mark.parametrize("percent", [-1, 101])
def test_progress_is_a_percentage(app: Minqing, resolution_notice_up: UUID, percent: int) -> None:
    with pytest.raises(errors.InvalidInput):
        app.record_progress(resolution_notice_up, actor="wang.worker", summary="?", percent=percent)
