"""Shared route helpers: scope checks, a list's pages (what a command answers: `api.rest.written`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query

from domain import errors, masking
from domain.application import Minqing
from domain.chain import plain
from projections.paging import MAX_PAGE, Page

# A list's paging and read-your-writes parameters, the same on every list.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Cursor = Annotated[str | None, Query(max_length=500, description="Where the page starts: the `next_cursor` "
                                    "of the page before (for deep pages; `offset` reads and drops every row "
                                    "before it)")]
After = Annotated[int | None, Query(ge=0, description="Wait until the views have processed this position")]


def require_in_scope(cells: Iterable[str], scope: list[str], kind: str, aggregate_id: UUID) -> None:
    if not set(cells) & set(scope):  # one outside the caller's cells answers as one that is not there
        raise errors.NotFound("no {kind} {id}", kind=kind, id=aggregate_id)


def narrowed(app: Minqing, scope: list[str], cell: str | None) -> list[str] | None:
    """The cells of the caller's scope, only `cell` and those below it when one is asked for; None for
    the whole grid (a query then reads every row instead of testing each against hundreds of cells)."""
    if cell is None:
        return None if len(scope) == len(app.deployment.cells) else scope
    inside = set(scope)
    return [c for c in app.deployment.subtree(cell) if c in inside]


def listing(page: Page, *, masked: bool = False) -> dict[str, Any]:
    """A page of a list as JSON, its personal data masked for those who may not see it."""
    items = plain(page.items)
    return {"items": masking.masked(items) if masked else items, "total": page.total,
            "total_capped": page.total_capped, "limit": page.limit, "offset": page.offset,
            "next_cursor": page.next_cursor}
