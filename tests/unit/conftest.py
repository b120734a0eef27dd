"""Fixtures named after the state a case is in; each returns the case id in that state."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases


@pytest.fixture
def raised_repair(app: Minqing) -> UUID:
    """A repair raised in a villager group, not triaged yet."""
    return cases.raise_repair(app)


@pytest.fixture
def repair_in_progress(app: Minqing) -> UUID:
    """A repair triaged onto the direct track (5 days to resolve)."""
    return cases.triaged_repair(app)


@pytest.fixture
def resolved_repair(app: Minqing, clock: Clock, repair_in_progress: UUID) -> UUID:
    clock.advance(days=2)
    app.resolve(repair_in_progress, actor="wang.worker", summary="cover replaced")
    return repair_in_progress


@pytest.fixture
def not_resolvable_repair(app: Minqing, clock: Clock, repair_in_progress: UUID) -> UUID:
    clock.advance(days=2)
    app.close_case(repair_in_progress, actor="chen.supervisor", outcome="not_resolvable",
                   explanation="the road belongs to the county; we passed it on")
    return repair_in_progress


@pytest.fixture
def withdrawn_repair(app: Minqing, clock: Clock, repair_in_progress: UUID) -> UUID:
    clock.advance(hours=3)
    app.close_case(repair_in_progress, actor="resident", outcome="withdrawn")
    return repair_in_progress


@pytest.fixture
def awaiting_branch_proposal(app: Minqing) -> UUID:
    """Village public works on 四议两公开, waiting for the party branch's proposal."""
    return cases.village_works(app)


@pytest.fixture
def representatives_vote_pending(app: Minqing, clock: Clock) -> UUID:
    """Village public works past its three discussions, waiting for the villagers' vote."""
    return cases.village_vote_pending(app, clock)


@pytest.fixture
def rejected_by_vote(app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> UUID:
    """The villagers' representatives have just voted the matter down (10 of 20 present in favour)."""
    cases.representatives_vote(app, clock, representatives_vote_pending, present=20, in_favour=10)
    return representatives_vote_pending


@pytest.fixture
def resolution_notice_pending(app: Minqing, clock: Clock, representatives_vote_pending: UUID) -> UUID:
    """The resolution was adopted and waits to be made public."""
    cases.representatives_vote(app, clock, representatives_vote_pending, present=20, in_favour=11)
    return representatives_vote_pending


@pytest.fixture
def resolution_notice_up(app: Minqing, clock: Clock, resolution_notice_pending: UUID) -> UUID:
    """The resolution notice was posted just now and runs for 7 days."""
    cases.resolution_notice(app, clock, resolution_notice_pending)
    return resolution_notice_pending


@pytest.fixture
def resolution_notice_over(app: Minqing, clock: Clock, resolution_notice_up: UUID) -> UUID:
    """Being implemented, the resolution notice period having run out without objections."""
    clock.advance(days=7)
    return resolution_notice_up


@pytest.fixture
def resolved_village_works(app: Minqing, clock: Clock, resolution_notice_over: UUID) -> UUID:
    app.resolve(resolution_notice_over, actor="wang.worker", summary="road hardened")
    return resolution_notice_over


@pytest.fixture
def awaiting_topic(app: Minqing) -> UUID:
    """A community compact on 六步议事, waiting for its topic to be raised."""
    return cases.community_rule(app)


@pytest.fixture
def draft_notice_up(app: Minqing, clock: Clock, awaiting_topic: UUID) -> UUID:
    """The residents' council's draft has just been posted for comment."""
    cases.community_endorse(app, clock, awaiting_topic, cases.SIX_STEP_DISCUSSIONS)
    cases.draft_notice(app, clock, awaiting_topic)
    return awaiting_topic


@pytest.fixture
def residents_vote_pending(app: Minqing, clock: Clock) -> UUID:
    """A community compact past expert review, waiting for the residents' representatives' vote."""
    return cases.residents_vote_pending(app, clock)
