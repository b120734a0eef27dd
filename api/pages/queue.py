"""My queue (我的待办): the open cases in my cells that wait on an action, past due first.

Read from the `cases` view through `queries.search_cases`, the query the API's case search uses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from api import tables
from api.exports import FORMATS, exported, names_for
from api.i18n import gettext as _
from api.names import Names, display_names
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.common import narrowed
from api.web.deps import RuntimeDep, masks_personal_data, readable_cells
from domain.account import Account
from domain.application import Minqing, scopes_for
from domain.demand import OPEN_STATUSES
from domain.deployment import TRACKS
from domain.masking import masked
from domain.templates import TEMPLATES
from projections import queries
from projections.paging import EXPORT_CAP, MAX_PAGE, Page, every_item

router = APIRouter(include_in_schema=False)

SOON = timedelta(days=2)   # due this soon: shown as a warning, and the 即将到期 tab
ROWS = 25                  # cases on one page of the queue
Filter = Annotated[str | None, Query(max_length=200)]


def tabs(account: Account) -> list[tuple[str, str]]:
    """The queue's tabs, by key, in the page's language; a supervisor's also lists the cases closed since
    which the resident said they were dissatisfied, for the supervisor to reopen or leave closed."""
    found = [("mine", _("Assigned to me")), ("cells", _("My cells")), ("soon", _("Due soon")),
             ("late", _("Overdue"))]
    return [*found, ("dissatisfied", _("Dissatisfied residents"))] if scopes_for(account, "reopen") else found


def step_position(template: str | None, step: str) -> tuple[int, int] | None:
    """The step's place in its template and the template's number of steps (3, 6), if it is one."""
    found = TEMPLATES.get(template or "")
    keys = [s.key for s in found.steps] if found else []
    return (keys.index(step) + 1, len(keys)) if step in keys else None


def _filters(account: Account, scope: list[str], tab: str, cell: str | None, category: str | None,
             status: str | None, track: str | None, q: str | None, phone: str | None) -> dict[str, Any]:
    """The queue's filters as given, those the account may not use dropped."""
    sees_phone = not masks_personal_data(account)
    return {"tab": tab if tab in dict(tabs(account)) else "mine", "cell": cell if cell in scope else None,
            "category": category or None, "status": status or None, "track": track or None, "q": q or None,
            "phone": (phone or None) if sees_phone else None}


def _search(conn: Connection, app: Minqing, account: Account, scope: list[str], filters: dict[str, Any],
            now: datetime, *, limit: int, cursor: str | None) -> Page:
    """One page of the queue's tab, filtered and searched, past due first (the dissatisfied residents'
    closed cases: the latest rated first)."""
    tab = filters["tab"]
    dissatisfied = tab == "dissatisfied"
    return queries.search_cases(
        conn, cells=narrowed(app, scope, filters["cell"]), category=filters["category"],
        status=filters["status"], track=filters["track"], text=filters["q"], phone=filters["phone"],
        open_only=not dissatisfied, now=now, assignee=account.username if tab == "mine" else None,
        overdue=True if tab == "late" else None, due_within=SOON if tab == "soon" else None,
        rating="dissatisfied" if dissatisfied else None,
        sort="-updated_at" if dissatisfied else queries.URGENCY, limit=limit, cursor=cursor)


@router.get("/queue")
def queue(request: Request, account: SignedIn, rt: RuntimeDep, tab: str = "mine", cell: Filter = None,
          category: Filter = None, status: Filter = None, track: Filter = None, q: Filter = None,
          phone: Filter = None, cursor: Filter = None) -> Response:
    """The cases in my scope waiting on an action: one tab, filtered and searched, past due first."""
    app, now = rt.app, rt.app.clock()
    scope = readable_cells(account, app.deployment)
    sees_phone = not masks_personal_data(account)
    filters = _filters(account, scope, tab, cell, category, status, track, q, phone)
    with rt.reader.connect() as conn:
        page = _search(conn, app, account, scope, filters, now, limit=ROWS, cursor=cursor or None)
    items = page.items if sees_phone else masked(page.items)
    rows = [row_of(item, now) for item in items]
    names = Names(app.deployment, display_names(app, {r["assignee"] for r in rows if r["assignee"]}))
    return render(request, "queue.html", names=names, rows=rows, page=page, filters=filters,
                  tabs=tabs(account), sees_phone=sees_phone, now=now,
                  cells=Names(app.deployment).cell_options(scope),
                  category_options=[(key, names.category(key)) for key in app.deployment.categories],
                  status_options=[(key, names.term("status", key)) for key in OPEN_STATUSES],
                  track_options=[(key, names.term("track", key)) for key in TRACKS],
                  query_of=query_of, formats=FORMATS, export_cap=EXPORT_CAP)


@router.get("/queue/export")
def export(request: Request, account: SignedIn, rt: RuntimeDep,
           format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv", tab: str = "mine",
           cell: Filter = None, category: Filter = None, status: Filter = None, track: Filter = None,
           q: Filter = None, phone: Filter = None) -> Response:
    """The queue's tab as filtered, every case of it (not a page), as CSV or XLSX in the page's language."""
    app, now = rt.app, rt.app.clock()
    scope = readable_cells(account, app.deployment)
    filters = _filters(account, scope, tab, cell, category, status, track, q, phone)
    with rt.reader.connect() as conn:
        items = every_item(lambda at: _search(conn, app, account, scope, filters, now, limit=MAX_PAGE,
                                              cursor=at))
    rows, table = (masked(items) if masks_personal_data(account) else items), tables.cases()
    return exported(table, rows, format, names_for(app, table, rows))


def row_of(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A case of the view as a row of the queue: what the template shows, worked out here."""
    due_at = item["due_at"]
    return {**item, "position": step_position(item["template"], item["current_step"]),
            "age": now - item["raised_at"],
            "soon": not item["overdue"] and due_at is not None and due_at - now <= SOON}


def query_of(filters: dict[str, Any], **changed: Any) -> str:
    """The queue's query string with some values changed (the tabs' and the next page's links)."""
    values = {**filters, **changed}
    return urlencode({k: v for k, v in values.items() if v not in (None, "", 0)})
