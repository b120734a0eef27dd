"""Shared route helpers: what a command answers, scope checks, CSV output."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from domain import errors
from domain.application import Minqing, Recorded
from domain.chain import plain
from projections.queries import MAX_PAGE, Page

# A list's paging and read-your-writes parameters, the same on every list.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
After = Annotated[int | None, Query(ge=0, description="Wait until the views have processed this position")]


def recorded(done: Recorded, *, created: str | None = None) -> Response:
    """What a command answers: the aggregate, its new version and the log position (201 and its
    Location when it created the aggregate). Built here, so FastAPI does not validate it again."""
    body = {"id": str(done.id), "version": done.version, "position": done.position}
    if created is None:
        return JSONResponse(body)
    return JSONResponse(body, status_code=201, headers={"Location": created})


def require_in_scope(cells: Iterable[str], scope: list[str], what: str) -> None:
    if not set(cells) & set(scope):
        raise errors.OutsideScope(f"{what} lies outside your grid cells")


def narrowed(app: Minqing, scope: list[str], cell: str | None) -> list[str]:
    """The cells of the caller's scope, only `cell` and those below it when one is asked for."""
    if cell is None:
        return scope
    inside = set(scope)
    return [c for c in app.deployment.subtree(cell) if c in inside]


def listing(page: Page) -> dict[str, Any]:
    """A page of a list as JSON."""
    return {"items": plain(page.items), "total": page.total, "limit": page.limit, "offset": page.offset}


def csv_response(rows: list[dict[str, Any]], filename: str, columns: Iterable[str] = ()) -> Response:
    """Rows as CSV; `columns` head the file even when there are no rows (more found in rows follow)."""
    out = io.StringIO()
    header = list(dict.fromkeys([*columns, *(k for row in rows for k in row)]))
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: plain(v) if isinstance(v, datetime) else
                         (v if not isinstance(v, (list, dict)) else str(plain(v))) for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
