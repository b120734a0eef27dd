"""Views of the event store, kept in SQLAlchemy tables beside the events."""

from __future__ import annotations

from domain.deployment import DEFAULT_TIMEZONE, Deployment
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
from projections.rollups import Grid


def views_of(deployment: Deployment) -> dict[str, View]:
    """Every view by name, as the deployment cuts them (its time zone, its grid)."""
    return all_views(deployment.timezone, deployment.grid)


def all_views(zone: str = DEFAULT_TIMEZONE, grid: Grid | None = None) -> dict[str, View]:
    """Every view by name, in the order they are processed; months cut in `zone` and the summaries' scopes
    by `grid` (the deployment's: see `views_of`)."""
    views = [cases.view(zone, grid), text_search.view(), visit_coverage.view(), notice_board.view(),
             staff.view(), visits.view(), objections.view()]
    return {v.name: v for v in views}
