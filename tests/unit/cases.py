"""Small steps that bring a case to a state, shared by the unit-test fixtures.

Each helper records what a worker would record, on the app's clock, and returns the case id.
Meetings are spaced a day apart so that every step happens after the one before it.
"""

from __future__ import annotations

from uuid import UUID

from domain.application import Minqing
from tests.conftest import Clock

VILLAGE_GROUP = "qingshui.dongcun.g1"
VILLAGE = "qingshui.dongcun"
BUILDING = "qingshui.community.p1.a.b3"

VILLAGE_DISCUSSIONS = ("branch_proposal", "two_committees", "members_assembly")
SIX_STEP_DISCUSSIONS = ("topic_raised", "consultation_forum", "plan_drafted")


def raise_repair(app: Minqing, *, cell_id: str = VILLAGE_GROUP, actor: str = "wang.worker") -> UUID:
    return app.raise_demand(actor=actor, channel="reception_day", title="A broken manhole cover",
                            cell_id=cell_id, resident_name="张大爷", resident_phone="13800000000").id


def triaged_repair(app: Minqing, *, cell_id: str = VILLAGE_GROUP, actor: str = "wang.worker") -> UUID:
    demand_id = raise_repair(app, cell_id=cell_id, actor=actor)
    app.triage(demand_id, actor=actor, category="repairs")
    return demand_id


def village_works(app: Minqing, *, category: str = "public_works") -> UUID:
    """A village public-works matter, triaged onto 四议两公开 and waiting for the branch proposal."""
    demand_id = app.raise_demand(actor="wang.worker", channel="delegate", title="Harden the east road",
                                 cell_id=VILLAGE).id
    app.triage(demand_id, actor="wang.worker", category=category)
    return demand_id


def endorse(app: Minqing, clock: Clock, demand_id: UUID, steps: tuple[str, ...]) -> None:
    for step in steps:
        clock.advance(days=1)
        app.discuss(demand_id, actor="wang.worker", step=step, attendees=["李书记"], summary=f"{step} held")


def village_vote_pending(app: Minqing, clock: Clock) -> UUID:
    demand_id = village_works(app)
    endorse(app, clock, demand_id, VILLAGE_DISCUSSIONS)
    return demand_id


def representatives_vote(app: Minqing, clock: Clock, demand_id: UUID, *, members: int = 30,
                         present: int = 20, in_favour: int = 11, actor: str = "wang.worker") -> None:
    clock.advance(days=1)
    app.vote(demand_id, actor=actor, body="representatives", members=members, present=present,
             in_favour=in_favour, against=present - in_favour, abstained=0)


def resolution_notice(app: Minqing, clock: Clock, demand_id: UUID) -> str:
    """Post the resolution notice; returns its notice id."""
    clock.advance(days=1)
    app.publicize(demand_id, actor="wang.worker", kind="resolution", text="决议: 硬化东村道路")
    return notice_of(app, demand_id, "resolution")


def notice_of(app: Minqing, demand_id: UUID, kind: str) -> str:
    """The id of the latest notice of `kind` on the case."""
    ids: list[str] = [nid for nid, n in app.demand(demand_id).notices.items() if n["kind"] == kind]
    return ids[-1]


def community_rule(app: Minqing) -> UUID:
    """A community compact matter, triaged onto 六步议事 and waiting for the topic."""
    demand_id = app.raise_demand(actor="liu.community", channel="reception_day",
                                 title="Parking rules for building 3", cell_id=BUILDING).id
    app.triage(demand_id, actor="liu.community", category="community_rules")
    return demand_id


def community_endorse(app: Minqing, clock: Clock, demand_id: UUID, steps: tuple[str, ...]) -> None:
    for step in steps:
        clock.advance(days=1)
        app.discuss(demand_id, actor="liu.community", step=step, attendees=["居民代表"], summary=step)


def draft_notice(app: Minqing, clock: Clock, demand_id: UUID) -> str:
    clock.advance(days=1)
    app.publicize(demand_id, actor="liu.community", kind="draft", text="停车公约草案")
    return notice_of(app, demand_id, "draft")


def residents_vote_pending(app: Minqing, clock: Clock) -> UUID:
    demand_id = community_rule(app)
    community_endorse(app, clock, demand_id, SIX_STEP_DISCUSSIONS)
    draft_notice(app, clock, demand_id)
    clock.advance(days=7)
    community_endorse(app, clock, demand_id, ("expert_review",))
    return demand_id
