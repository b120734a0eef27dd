"""Vote rules from the statutes; the domain, not the caller, decides a vote's outcome.

"以上" includes the bound (two thirds *or more*); "过半数" is strictly more than half. All
comparisons are done in integers so that no rounding decides a vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from domain.errors import ImpossibleVoteCounts
from domain.vocabulary import Name

# villagers' representative meeting, villagers' assembly, residents' representative meeting
VoteBody = Literal["representatives", "assembly", "residents_representatives"]
VOTE_BODIES: tuple[VoteBody, ...] = get_args(VoteBody)

ADOPTED = "adopted"
REJECTED = "rejected"
INVALID = "invalid"  # no quorum


# A tally's counts, as the vote's fields are named.
VOTE_COUNTS = ("members", "present", "in_favour", "against", "abstained", "households", "households_present")


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
            raise ImpossibleVoteCounts("vote counts cannot be negative", fields=tuple(
                name for name, count in zip(VOTE_COUNTS, counts, strict=True) if count < 0))
        if self.members == 0:
            raise ImpossibleVoteCounts("a voting body has at least one member", fields=("members",))
        if self.present > self.members:
            raise ImpossibleVoteCounts("{present} present is more than the body's {members} members",
                                       fields=("present",), present=self.present, members=self.members)
        if self.in_favour + self.against + self.abstained > self.present:
            raise ImpossibleVoteCounts(
                "{in_favour} for + {against} against + {abstained} abstaining is more than the {present} "
                "present", fields=("in_favour", "against", "abstained"), in_favour=self.in_favour,
                against=self.against, abstained=self.abstained, present=self.present)
        if self.households_present > self.households:
            raise ImpossibleVoteCounts(
                "{present} households present is more than the {households} households",
                fields=("households_present",), present=self.households_present, households=self.households)


def _more_than_half(part: int, whole: int) -> bool:
    return part * 2 > whole


def _two_thirds_or_more(part: int, whole: int) -> bool:
    return part * 3 >= whole * 2


@dataclass(frozen=True)
class VoteRule:
    """A voting body and its statute rule, in words (`quorum`, `majority`) and in `quorate` and `carried`."""

    body: VoteBody
    name: Name
    quorum: Name        # who must be present for the vote to count
    majority: Name      # how many in favour adopt it

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
        VoteRule("representatives", Name("村民代表会议", "villagers' representative meeting"),
                 quorum=Name("三分之二以上的组成人员参加", "two thirds of members or more present"),
                 majority=Name("到会人员过半数同意", "more than half of those present in favour")),
        VoteRule("assembly", Name("村民会议", "villagers' assembly"),
                 quorum=Name("本村十八周岁以上村民过半数参加，或者本村三分之二以上的户的代表参加",
                             "more than half of adult villagers present, or representatives of two thirds "
                             "of households or more"),
                 majority=Name("到会人员过半数同意", "more than half of those present in favour")),
        VoteRule("residents_representatives", Name("居民代表会议", "residents' representative meeting"),
                 quorum=Name("过半数的组成人员参加", "more than half of members present"),
                 majority=Name("到会人员三分之二以上同意", "two thirds of those present or more in favour")),
    )
}
