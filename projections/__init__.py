"""Views of the event store, kept in SQLAlchemy tables beside the events."""

from __future__ import annotations

from domain.deployment import DEFAULT_TIMEZONE
from projections import (
    cases,
    notice_board,
    objections,
    staff,
    text_search,
    visit_coverage,
    visits,
)
from projections.core import View


def all_views(zone: str = DEFAULT_TIMEZONE) -> dict[str, View]:
    """Every view by name, in the order they are processed; months cut in `zone` (the deployment's)."""
    views = [cases.view(zone), text_search.view(), visit_coverage.view(), notice_board.view(), staff.view(),
             visits.view(), objections.view()]
    return {v.name: v for v in views}
