"""Views of the event store, kept in SQLAlchemy tables beside the events."""

from __future__ import annotations

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


def all_views() -> dict[str, View]:
    """Every view by name, in the order they are processed."""
    views = [cases.view(), text_search.view(), visit_coverage.view(), notice_board.view(), staff.view(),
             visits.view(), objections.view()]
    return {v.name: v for v in views}
