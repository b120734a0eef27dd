"""Vote rules from the statutes, at their edges, and as the app applies them to a case."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from domain.votes import ADOPTED, INVALID, REJECTED, VOTE_RULES, Tally
from tests.conftest import Clock
from tests.unit import cases

representatives = VOTE_RULES["representatives"]
assembly = VOTE_RULES["assembly"]
residents = VOTE_RULES["residents_representatives"]


def tally(members: int, present: int, in_favour: int, *, households: int = 0,
          households_present: int = 0) -> Tally:
    """Everyone present votes; those not in favour vote against."""
    return Tally(members, present, in_favour, present - in_favour, 0, households, households_present)


# ---------------------------------------------------------------- villagers' representative meeting
def test_a_representatives_meeting_with_exactly_two_thirds_present_is_quorate() -> None:
    assert representatives.outcome(tally(30, 20, 11)) == ADOPTED


def test_a_vote_without_two_thirds_of_representatives_present_is_invalid() -> None:
    assert representatives.outcome(tally(30, 19, 19)) == INVALID


def test_two_thirds_of_representatives_is_not_rounded_down() -> None:
    # two thirds of 31 members is 20.67: 21 present make a quorum, 20 do not
    assert representatives.quorate(tally(31, 21, 21))
    assert not representatives.quorate(tally(31, 20, 20))


def test_representatives_adopt_with_one_more_than_half_of_those_present() -> None:
    assert representatives.outcome(tally(30, 20, 11)) == ADOPTED


def test_representatives_reject_when_exactly_half_of_those_present_are_in_favour() -> None:
    assert representatives.outcome(tally(30, 20, 10)) == REJECTED


def test_abstentions_count_as_present_but_not_in_favour() -> None:
    assert representatives.outcome(Tally(30, 21, 10, 1, 10)) == REJECTED


# ---------------------------------------------------------------- villagers' assembly
def test_an_assembly_with_more_than_half_of_adult_villagers_present_is_quorate() -> None:
    assert assembly.outcome(tally(200, 101, 51)) == ADOPTED


def test_an_assembly_with_exactly_half_of_adult_villagers_and_no_households_count_is_invalid() -> None:
    assert assembly.outcome(tally(200, 100, 100)) == INVALID


def test_an_assembly_with_half_of_adults_but_two_thirds_of_households_represented_is_quorate() -> None:
    assert assembly.outcome(tally(200, 100, 51, households=90, households_present=60)) == ADOPTED


def test_an_assembly_with_half_of_adults_and_just_under_two_thirds_of_households_is_invalid() -> None:
    assert assembly.outcome(tally(200, 100, 51, households=90, households_present=59)) == INVALID


def test_an_assembly_is_quorate_by_households_even_with_few_adults_present() -> None:
    assert assembly.quorate(tally(200, 70, 70, households=60, households_present=40))


def test_an_assembly_adopts_with_more_than_half_of_those_present() -> None:
    assert assembly.outcome(tally(200, 120, 61)) == ADOPTED


def test_an_assembly_rejects_with_exactly_half_of_those_present_in_favour() -> None:
    assert assembly.outcome(tally(200, 120, 60)) == REJECTED


# ---------------------------------------------------------------- residents' representatives (六步议事)
def test_residents_representatives_with_more_than_half_of_members_present_are_quorate() -> None:
    assert residents.outcome(tally(30, 16, 16)) == ADOPTED


def test_residents_representatives_with_exactly_half_of_members_present_are_invalid() -> None:
    assert residents.outcome(tally(30, 15, 15)) == INVALID


def test_residents_representatives_adopt_with_exactly_two_thirds_of_those_present() -> None:
    assert residents.outcome(tally(30, 21, 14)) == ADOPTED


def test_residents_representatives_reject_with_just_under_two_thirds_of_those_present() -> None:
    assert residents.outcome(tally(30, 21, 13)) == REJECTED


def test_residents_representatives_need_the_whole_two_thirds_when_it_is_not_a_whole_number() -> None:
    # two thirds of 16 present is 10.67: 11 in favour carries, 10 does not
    assert residents.outcome(tally(30, 16, 11)) == ADOPTED
    assert residents.outcome(tally(30, 16, 10)) == REJECTED


def test_residents_representatives_reject_a_simple_majority_short_of_two_thirds() -> None:
    assert residents.outcome(tally(30, 20, 13)) == REJECTED


# ---------------------------------------------------------------- counts that cannot be
@pytest.mark.parametrize("body", sorted(VOTE_RULES))
def test_a_vote_with_nobody_present_is_invalid(body: str) -> None:
    assert VOTE_RULES[body].outcome(Tally(30, 0, 0, 0, 0)) == INVALID


@pytest.mark.parametrize("counts", [
    pytest.param(dict(members=-1, present=0, in_favour=0, against=0, abstained=0), id="negative members"),
    pytest.param(dict(members=30, present=20, in_favour=-1, against=0, abstained=0), id="negative for"),
    pytest.param(dict(members=30, present=20, in_favour=10, against=-2, abstained=0), id="negative against"),
    pytest.param(dict(members=30, present=20, in_favour=10, against=0, abstained=0, households=10,
                      households_present=-1), id="negative households"),
])
def test_negative_vote_counts_are_refused(counts: dict[str, int]) -> None:
    with pytest.raises(errors.ImpossibleVoteCounts):
        representatives.outcome(Tally(**counts))


def test_a_body_without_members_is_refused() -> None:
    with pytest.raises(errors.ImpossibleVoteCounts):
        residents.outcome(Tally(0, 0, 0, 0, 0))


def test_more_present_than_members_is_refused() -> None:
    with pytest.raises(errors.ImpossibleVoteCounts):
        representatives.outcome(Tally(30, 31, 31, 0, 0))


def test_more_votes_than_people_present_is_refused() -> None:
    with pytest.raises(errors.ImpossibleVoteCounts):
        representatives.outcome(Tally(30, 20, 12, 6, 3))


def test_all_present_voting_is_possible() -> None:
    assert representatives.outcome(Tally(30, 20, 12, 5, 3)) == ADOPTED


def test_more_households_present_than_households_is_refused() -> None:
    with pytest.raises(errors.ImpossibleVoteCounts):
        assembly.outcome(Tally(200, 100, 60, 40, 0, households=90, households_present=91))


# ---------------------------------------------------------------- through the app
def test_the_app_records_an_adopted_vote_and_moves_to_the_resolution_notice(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    cases.representatives_vote(app, clock, representatives_vote_pending, members=30, present=20, in_favour=11)
    demand = app.demand(representatives_vote_pending)
    assert demand.last_vote == ADOPTED
    assert demand.current_step == "resolution_notice"


def test_the_app_records_a_vote_without_quorum_as_invalid(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    cases.representatives_vote(app, clock, representatives_vote_pending, members=30, present=19, in_favour=19)
    assert app.demand(representatives_vote_pending).last_vote == INVALID


def test_the_vote_outcome_is_computed_by_the_domain_and_stored_with_the_counts(
        app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(representatives_vote_pending, actor="wang.worker", body="assembly", members=200, present=100,
             in_favour=51, against=40, abstained=9, households=90, households_present=60,
             attendees=["村主任"])
    voted = app.history(representatives_vote_pending)[-1]
    assert voted.type == "Voted"
    expected = {"body": "assembly", "members": 200, "present": 100, "in_favour": 51, "against": 40,
                "abstained": 9, "households": 90, "households_present": 60, "outcome": ADOPTED,
                "round": 1, "step": "resolution_vote", "attendees": ["村主任"]}
    assert {key: voted.data[key] for key in expected} == expected


def test_impossible_counts_given_to_the_app_are_refused_and_nothing_is_recorded(
        app: Minqing, representatives_vote_pending: UUID) -> None:
    before = app.demand(representatives_vote_pending).version
    with pytest.raises(errors.ImpossibleVoteCounts):
        app.vote(representatives_vote_pending, actor="wang.worker", body="representatives", members=30,
                 present=20, in_favour=15, against=10, abstained=0)
    assert app.demand(representatives_vote_pending).version == before


def test_residents_representatives_may_not_vote_on_a_village_resolution(
        app: Minqing, representatives_vote_pending: UUID) -> None:
    with pytest.raises(errors.VoteBodyNotAllowed):
        app.vote(representatives_vote_pending, actor="wang.worker", body="residents_representatives",
                 members=30, present=20, in_favour=20, against=0, abstained=0)


def test_villagers_representatives_may_not_vote_on_a_community_compact(
        app: Minqing, residents_vote_pending: UUID) -> None:
    with pytest.raises(errors.VoteBodyNotAllowed):
        app.vote(residents_vote_pending, actor="liu.community", body="representatives",
                 members=30, present=20, in_favour=20, against=0, abstained=0)


def test_residents_representatives_adopt_a_compact_with_two_thirds_through_the_app(
        app: Minqing, clock: Clock, residents_vote_pending: UUID) -> None:
    clock.advance(days=1)
    app.vote(residents_vote_pending, actor="liu.community", body="residents_representatives",
             members=30, present=21, in_favour=14, against=7, abstained=0)
    demand = app.demand(residents_vote_pending)
    assert (demand.last_vote, demand.status) == (ADOPTED, "implementing")
