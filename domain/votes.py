"""Vote rules from the statutes; the domain, not the caller, decides a vote's outcome.

"以上" includes the bound (two thirds *or more*); "过半数" is strictly more than half. All
comparisons are done in integers so that no rounding decides a vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from domain.errors import ImpossibleVoteCounts

# villagers' representative meeting, villagers' assembly, residents' representative meeting
VoteBody = Literal["representatives", "assembly", "residents_representatives"]
VOTE_BODIES: tuple[VoteBody, ...] = get_args(VoteBody)

ADOPTED = "adopted"
REJECTED = "rejected"
INVALID = "invalid"  # no quorum


@dataclass(frozen=True)
class Tally:
    members: int            # members of the body, or adult villagers for an assembly
    present: int
    in_favour: int
    against: int
    abstained: int
    households: int = 0     # villagers' assembly only: households in the village
    households_present: int = 0

    def check(self) -> None:
        counts = (self.members, self.present, self.in_favour, self.against, self.abstained,
                  self.households, self.households_present)
        if any(c < 0 for c in counts):
            raise ImpossibleVoteCounts("vote counts cannot be negative")
        if self.members == 0:
            raise ImpossibleVoteCounts("a voting body has at least one member")
        if self.present > self.members:
            raise ImpossibleVoteCounts(
                f"{self.present} present is more than the body's {self.members} members")
        if self.in_favour + self.against + self.abstained > self.present:
            raise ImpossibleVoteCounts(
                f"{self.in_favour} for + {self.against} against + {self.abstained} abstaining "
                f"is more than the {self.present} present")
        if self.households_present > self.households:
            raise ImpossibleVoteCounts(
                f"{self.households_present} households present is more than the "
                f"{self.households} households")


def _more_than_half(part: int, whole: int) -> bool:
    return part * 2 > whole


def _two_thirds_or_more(part: int, whole: int) -> bool:
    return part * 3 >= whole * 2


@dataclass(frozen=True)
class VoteRule:
    body: VoteBody
    name: str
    law: str

    def quorate(self, t: Tally) -> bool:
        if self.body == "representatives":
            return _two_thirds_or_more(t.present, t.members)
        if self.body == "assembly":
            by_households = t.households > 0 and _two_thirds_or_more(t.households_present, t.households)
            return _more_than_half(t.present, t.members) or by_households
        return _more_than_half(t.present, t.members)  # residents_representatives

    def carried(self, t: Tally) -> bool:
        if t.present == 0:
            return False
        if self.body == "residents_representatives":
            return _two_thirds_or_more(t.in_favour, t.present)
        return _more_than_half(t.in_favour, t.present)

    def outcome(self, t: Tally) -> str:
        t.check()
        if not self.quorate(t):
            return INVALID
        return ADOPTED if self.carried(t) else REJECTED


VOTE_RULES: dict[str, VoteRule] = {
    rule.body: rule
    for rule in (
        VoteRule("representatives", "村民代表会议 villagers' representative meeting",
                 "quorum: two thirds of members or more; adopted: more than half of those present"),
        VoteRule("assembly", "村民会议 villagers' assembly",
                 "quorum: more than half of adult villagers, or two thirds of households or more; "
                 "adopted: more than half of those present"),
        VoteRule("residents_representatives", "居民代表会议 residents' representative meeting",
                 "quorum: more than half of members; adopted: two thirds of those present or more"),
    )
}
