"""The household (住户) a worker visits, with the categories that set how often."""

from __future__ import annotations

from datetime import datetime

from domain import errors
from domain.chain import UNSET_TIME, ChainedAggregate
from domain.deployment import HOUSEHOLD_CATEGORIES


def _check_categories(categories: list[str]) -> None:
    unknown = set(categories) - set(HOUSEHOLD_CATEGORIES)
    if unknown or not categories:
        raise errors.InvalidInput("household categories must be some of {choices}",
                                  choices=", ".join(HOUSEHOLD_CATEGORIES))


class Household(ChainedAggregate):
    """A registered household in one grid cell."""

    def __init__(self) -> None:
        super().__init__()
        self.cell_id: str = ""
        self.address: str = ""
        self.head_name: str | None = None
        self.phone: str | None = None
        self.members: int = 0
        self.categories: list[str] = []
        self.cadence_days: int | None = None   # days between visits; None: not visited on a cadence
        self.registered_at: datetime = UNSET_TIME

    class Registered(ChainedAggregate.Created):
        cell_id: str
        address: str
        head_name: str | None
        phone: str | None
        members: int
        categories: list[str]
        cadence_days: int | None

        def apply(self, h: Household) -> None:
            h.cell_id, h.address, h.head_name = self.cell_id, self.address, self.head_name
            h.phone = self.phone
            h.members, h.categories, h.cadence_days = self.members, list(self.categories), self.cadence_days
            h.registered_at = self.occurred_at

    class Recategorised(ChainedAggregate.Event):
        categories: list[str]
        cadence_days: int | None

        def apply(self, h: Household) -> None:
            h.categories, h.cadence_days = list(self.categories), self.cadence_days

    @classmethod
    def register(cls, *, cell_id: str, address: str, head_name: str | None, phone: str | None,
                 members: int, categories: list[str], cadence_days: int | None, actor: str,
                 occurred_at: datetime) -> Household:
        _check_categories(categories)
        if not address.strip():
            raise errors.InvalidInput("a household needs an address")
        if members < 1:
            raise errors.InvalidInput("a household has at least one member")
        return cls._create(cls.Registered, cell_id=cell_id, address=address, head_name=head_name,
                           phone=phone, members=members, categories=list(categories),
                           cadence_days=cadence_days, actor=actor, occurred_at=occurred_at)

    def require_registered_by(self, at: datetime) -> None:
        """Nothing happens to a household, or is planned for it, before it was registered."""
        if at < self.registered_at:
            raise errors.OccurredOutOfOrder(
                "{at} is before household {household} was registered, at {registered}",
                at=at, household=self.id, registered=self.registered_at)

    def recategorise(self, *, categories: list[str], cadence_days: int | None, actor: str,
                     occurred_at: datetime) -> None:
        _check_categories(categories)
        self.require_registered_by(occurred_at)
        self.trigger_event(self.Recategorised, categories=list(categories), cadence_days=cadence_days,
                           actor=actor, occurred_at=occurred_at)
