"""Deliberation process templates (议事规则) as data: steps in order, who decides, what is posted."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import Name
from domain.votes import VoteBody

DISCUSSION = "discussion"
VOTE = "vote"
NOTICE = "notice"


@dataclass(frozen=True)
class Step:
    key: str
    kind: str                       # discussion | vote | notice
    title: Name
    may_return: bool = False        # a discussion that may send the matter back (a new round)
    vote_bodies: tuple[VoteBody, ...] = ()
    notice_kind: str = ""


@dataclass(frozen=True)
class Template:
    key: str
    title: Name
    steps: tuple[Step, ...]
    result_notice: bool             # the implementation result is made public after resolution

    def step(self, index: int) -> Step:
        return self.steps[index]


FOUR_DELIBERATIONS_TWO_DISCLOSURES = Template(
    key="four_deliberations_two_disclosures",
    title=Name("四议两公开", "four deliberations and two disclosures"),
    steps=(
        Step("branch_proposal", DISCUSSION, Name("党支部会提议", "party branch proposal")),
        Step("two_committees", DISCUSSION, Name("“两委”会商议", "two-committee consultation"),
             may_return=True),
        Step("members_assembly", DISCUSSION, Name("党员大会审议", "party members' assembly review"),
             may_return=True),
        Step("resolution_vote", VOTE, Name("村民代表会议或村民会议决议", "villagers' resolution"),
             vote_bodies=("representatives", "assembly")),
        Step("resolution_notice", NOTICE, Name("决议公开", "resolution made public"),
             notice_kind="resolution"),
    ),
    result_notice=True,
)

SIX_STEP_DELIBERATION = Template(
    key="six_step_deliberation",
    title=Name("六步议事", "six-step deliberation"),
    steps=(
        Step("topic_raised", DISCUSSION, Name("提议题", "topic raised")),
        Step("consultation_forum", DISCUSSION, Name("民主恳谈会出主意", "consultation forum"),
             may_return=True),
        Step("plan_drafted", DISCUSSION, Name("议事会拟方案", "residents' council drafts a plan")),
        Step("draft_notice", NOTICE, Name("张榜公示开言路", "draft posted for comment"), notice_kind="draft"),
        Step("expert_review", DISCUSSION, Name("专家审查定公约", "expert review"), may_return=True),
        Step("residents_vote", VOTE, Name("居民表决说了算", "residents' representative meeting vote"),
             vote_bodies=("residents_representatives",)),
    ),
    result_notice=False,
)

TEMPLATES = {t.key: t for t in (FOUR_DELIBERATIONS_TWO_DISCLOSURES, SIX_STEP_DELIBERATION)}
