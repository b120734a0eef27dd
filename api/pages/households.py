"""Households (住户) and visits (走访) on the pages: the households of my cells, overdue visits first;
registering one; a household's page (its categories, visiting cadence, visits and the open demands
raised on them, and a visit to schedule); my visits due this week; a visit's page, where it is recorded
or marked missed and each need found becomes a linked demand with one tap.

Reads come from the views (`visit_coverage`, `visits`, `cases`) through the query functions, within the
signed-in person's cells: anything outside them answers as missing (404), as in the API. Forms run the
Application's commands through `forms.submit`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, NaiveDatetime, field_validator
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api.compose import Runtime
from api.i18n import gettext
from api.names import Names, display_names
from api.pages.forms import Rejection, in_zone, submit
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.common import narrowed, require_in_scope
from api.rest.schemas import (
    Body,
    ConductVisit,
    Line,
    MissVisit,
    Recategorise,
    RegisterHousehold,
    ScheduleVisit,
)
from api.web.deps import masks_personal_data, readable_cells
from domain import errors
from domain.account import Account
from domain.application import PERMISSIONS, Minqing, Recorded, scopes_for
from domain.deployment import HOUSEHOLD_CATEGORIES, Deployment
from domain.masking import masked
from domain.visit import CONDUCTED, MODES, PURPOSES, SCHEDULED
from projections import queries
from projections.paging import MAX_PAGE

router = APIRouter(include_in_schema=False)
PAGE = 50
VIEWS = ["visit_coverage", "visits", "cases"]
After = Annotated[int | None, Query(ge=0)]


class RegisterHouseholdForm(RegisterHousehold):
    """A household registered on the page: its members typed as digits into a number field."""

    members: Annotated[int, Field(ge=1, le=100)] = 1


class ScheduleVisitForm(ScheduleVisit):
    """A visit scheduled on the page: the due time as typed into a date-and-time field, in the
    deployment's time zone (the page gives it its zone)."""

    due_at: NaiveDatetime


class ConductVisitForm(ConductVisit):
    """A visit recorded on the page: the needs found typed one to a line; when it was made as typed into
    a date-and-time field, in the deployment's zone (empty: now)."""

    occurred_at: NaiveDatetime | None = None

    @field_validator("needs_found", mode="before")
    @classmethod
    def _one_to_a_line(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [line.strip() for item in value if isinstance(item, str)
                    for line in item.splitlines() if line.strip()]
        return value


class NeedAsDemand(Body):
    """A need found on a visit, raised as a demand: its title (the need as found, unless changed). The
    channel is "visit", the cell the household's; `need` says which of the needs the form was for."""

    need: int
    title: Line


# ---------------------------------------------------------------- what the pages share
def _runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def _may(account: Account, app: Minqing, action: str, cell: str) -> bool:
    """May `account` do `action` on something lying in `cell` (a role allowing it there or above)?"""
    return any(app.deployment.within(cell, scope) for scope in scopes_for(account, action))


def _cells_for(account: Account, app: Minqing, action: str) -> list[str]:
    """The cells where `account` may do `action`."""
    return [cell for cell in app.deployment.cells if _may(account, app, action, cell)]


def _shown(rows: Any, account: Account) -> Any:
    """Rows as `account` may see them: personal data masked for reviewers and administrators."""
    return masked(rows) if masks_personal_data(account) else rows


def _household(rt: Runtime, account: Account, household_id: UUID) -> Any:
    household = rt.app.household(household_id)
    scope = readable_cells(account, rt.app.deployment)
    require_in_scope([household.cell_id], scope, "household", household_id)
    return household


def _visit(rt: Runtime, account: Account, visit_id: UUID) -> dict[str, Any]:
    with rt.reader.connect() as conn:
        visit = queries.household_visit(conn, visit_id)
    if visit is None:
        raise errors.NotFound("no {kind} {id}", kind="visit", id=visit_id)
    require_in_scope([visit["cell_id"]], readable_cells(account, rt.app.deployment), "visit", visit_id)
    return visit


def _again(request: Request, page: Callable[..., Response], *args: Any,
           **context: Any) -> Callable[[Rejection], Any]:
    """Render a form's page again with its rejection (reading the views off the event loop)."""
    async def again(rejection: Rejection) -> Response:
        return await run_in_threadpool(partial(page, request, *args, rejection=rejection, **context))
    return again


def _after(done: Recorded) -> str:
    return f"after={done.position}"


# ---------------------------------------------------------------- households
@router.get("/households")
def household_list(request: Request, account: SignedIn, cell: str = "", category: str = "",
                   overdue: bool = False, cursor: Annotated[str | None, Query(max_length=200)] = None,
                   after: After = None) -> Response:
    """The households of my cells, those whose visit is overdue first; by cell, category, overdue."""
    rt = _runtime(request)
    rt.wait_for_views(after, VIEWS)
    scope = readable_cells(account, rt.app.deployment)
    cell = cell if cell in scope else ""
    category = category if category in HOUSEHOLD_CATEGORIES else ""
    now = rt.app.clock()
    with rt.reader.connect() as conn:
        page = queries.households(conn, now=now, cells=narrowed(rt.app, scope, cell or None),
                                  category=category or None, overdue=True if overdue else None,
                                  limit=PAGE, cursor=cursor or None)
    def page_at(start: str | None) -> str:
        chosen = {"cell": cell, "category": category, "overdue": "true" if overdue else "", "cursor": start}
        return "/households?" + urlencode({k: v for k, v in chosen.items() if v})

    return render(request, "households.html", households=_shown(page.items, account), page=page, now=now,
                  scope=scope, cell=cell, category=category, overdue=overdue,
                  categories=HOUSEHOLD_CATEGORIES,
                  may_register=bool(_cells_for(account, rt.app, "register_household")),
                  first_page=page_at(None) if cursor else None,
                  next_page=page_at(page.next_cursor) if page.next_cursor else None)


@router.get("/households/new")
def new_household(request: Request, account: SignedIn) -> Response:
    """The form to register a household."""
    return _registering(request, account)


def _registering(request: Request, account: Account, rejection: Rejection | None = None) -> Response:
    app = _runtime(request).app
    names = Names(app.deployment)
    cells = [(cell, names.cell(cell)) for cell in _cells_for(account, app, "register_household")]
    return render(request, "household_new.html", status=rejection.status if rejection else 200,
                  rejection=rejection, cells=cells, categories=HOUSEHOLD_CATEGORIES)


@router.post("/households/new")
async def register_household(request: Request, account: SignedIn) -> Response:
    """Register a household; then its page."""
    app = _runtime(request).app
    return await submit(
        request, RegisterHouseholdForm,
        lambda form: app.register_household(actor=account.username, **form.model_dump()),
        done=lambda done: f"/households/{done.id}?{_after(done)}",
        again=_again(request, _registering, account))


@router.get("/households/{household_id}")
def household_page(request: Request, household_id: UUID, account: SignedIn, after: After = None) -> Response:
    """A household: details, categories, visiting cadence, visits, open demands, a visit to schedule."""
    _runtime(request).wait_for_views(after, VIEWS)
    return _household_page(request, household_id, account)


def _household_page(request: Request, household_id: UUID, account: Account,
                    rejection: Rejection | None = None, failed: str = "") -> Response:
    rt = _runtime(request)
    app = rt.app
    household = _household(rt, account, household_id)
    scope = readable_cells(account, app.deployment)
    now = app.clock()
    with rt.reader.connect() as conn:
        coverage = queries.household_row(conn, household_id)
        visits = queries.household_visits(conn, cells=scope, household=household_id, sort="-due_at",
                                          limit=MAX_PAGE).items
        demands = queries.search_cases(conn, cells=scope, visit_ids=[UUID(v["id"]) for v in visits],
                                       open_only=True, limit=MAX_PAGE).items if visits else []
        visitors = _visitors(conn, app.deployment, household.cell_id)
    details = {"address": household.address, "head_name": household.head_name, "phone": household.phone,
               "members": household.members}
    names = Names(app.deployment, display_names(app, {*visitors, *(v["visitor"] for v in visits)}))
    return render(request, "household.html", status=rejection.status if rejection else 200,
                  rejection=rejection, failed=failed, names=names, household=household,
                  details=_shown(details, account),
                  coverage=coverage, now=now, visits=visits, demands=_shown(demands, account),
                  categories=HOUSEHOLD_CATEGORIES, purposes=PURPOSES,
                  visitors=visitors,
                  may_recategorise=_may(account, app, "recategorise_household", household.cell_id),
                  may_schedule=_may(account, app, "schedule_visit", household.cell_id),
                  due_default=(now + timedelta(days=1)).astimezone(ZoneInfo(app.deployment.timezone))
                  .strftime("%Y-%m-%dT%H:%M"))


def _visitors(conn: Connection, deployment: Deployment, cell: str) -> list[str]:
    """Whom a visit to a household in `cell` may be given: the staff who may visit there (the staff
    directory's `staff_covering`, by the rule `Minqing.schedule_visit` checks)."""
    return [member["username"] for member in
            queries.staff_covering(conn, deployment, [cell], PERMISSIONS["conduct_visit"])]


@router.post("/households/{household_id}/categories")
async def recategorise(request: Request, household_id: UUID, account: SignedIn) -> Response:
    """Change a household's categories (and so how often it is visited)."""
    app = _runtime(request).app
    return await submit(
        request, Recategorise,
        lambda form: app.recategorise_household(household_id, actor=account.username,
                                                categories=list(form.categories)),
        done=lambda done: f"/households/{household_id}?{_after(done)}",
        again=_again(request, _household_page, household_id, account, failed="categories"))


@router.post("/households/{household_id}/visits")
async def schedule_visit(request: Request, household_id: UUID, account: SignedIn) -> Response:
    """Schedule a visit to the household: a visitor, a purpose, when it is due (in the deployment's zone)."""
    app = _runtime(request).app
    zone = ZoneInfo(app.deployment.timezone)
    return await submit(
        request, ScheduleVisitForm,
        lambda form: app.schedule_visit(household_id, actor=account.username, visitor=form.visitor,
                                        purpose=form.purpose, due_at=form.due_at.replace(tzinfo=zone)),
        done=lambda done: f"/households/{household_id}?{_after(done)}",
        again=_again(request, _household_page, household_id, account, failed="schedule"))


# ---------------------------------------------------------------- visits
@router.get("/visits")
def my_visits(request: Request, account: SignedIn, after: After = None) -> Response:
    """My visits still to make, due by the end of this week: overdue ones first, then today's."""
    rt = _runtime(request)
    rt.wait_for_views(after, VIEWS)
    app = rt.app
    zone = ZoneInfo(app.deployment.timezone)
    now = app.clock()
    today = now.astimezone(zone).date()
    tomorrow = datetime.combine(today + timedelta(days=1), time(), zone)
    next_week = datetime.combine(today + timedelta(days=7 - today.weekday()), time(), zone)
    scope = readable_cells(account, app.deployment)
    with rt.reader.connect() as conn:
        due = queries.household_visits(conn, cells=scope, visitor=account.username, status=SCHEDULED,
                                       due_before=next_week, limit=MAX_PAGE).items
        homes = queries.households(conn, now=now, ids=[UUID(v["household_id"]) for v in due],
                                   limit=MAX_PAGE).items if due else []
    addresses = {h["id"]: h["address"] for h in _shown(homes, account)}
    groups = [(gettext("Overdue"), [v for v in due if v["due_at"] < now]),
              (gettext("Due today"), [v for v in due if now <= v["due_at"] < tomorrow]),
              (gettext("Due later this week"), [v for v in due if tomorrow <= v["due_at"]])]
    return render(request, "visits.html", groups=groups, addresses=addresses, now=now)


@router.get("/visits/{visit_id}")
def visit_page(request: Request, visit_id: UUID, account: SignedIn, after: After = None) -> Response:
    """A visit: record it or mark it missed; once recorded, raise each need found as a demand."""
    _runtime(request).wait_for_views(after, VIEWS)
    return _visit_page(request, visit_id, account)


def _visit_page(request: Request, visit_id: UUID, account: Account, rejection: Rejection | None = None,
                failed: str = "") -> Response:
    rt = _runtime(request)
    app = rt.app
    visit = _visit(rt, account, visit_id)
    with rt.reader.connect() as conn:
        home = queries.household_row(conn, UUID(visit["household_id"]))
        demands = queries.search_cases(conn, cells=readable_cells(account, app.deployment),
                                       visit_ids=[visit_id], limit=MAX_PAGE).items
    raised = {demand["title"]: demand for demand in demands}
    # Each need found, with the demand already raised from it (one titled as the need), if any.
    needs = [{"text": need["text"], "demand": raised.get(need["text"])} for need in visit["needs_found"]]
    open_visit = visit["status"] == SCHEDULED
    names = Names(app.deployment, display_names(app, {visit["visitor"], visit.get("done_by") or ""}))
    return render(request, "visit.html", status=rejection.status if rejection else 200,
                  rejection=rejection, failed=failed, names=names, visit=_shown(visit, account),
                  home=_shown(home, account), needs=_shown(needs, account), demands=_shown(demands, account),
                  modes=MODES, now=app.clock(),
                  may_record=open_visit and _may(account, app, "conduct_visit", visit["cell_id"]),
                  may_miss=open_visit and _may(account, app, "miss_visit", visit["cell_id"]),
                  may_raise=visit["status"] == CONDUCTED and _may(account, app, "raise", visit["cell_id"]))


@router.post("/visits/{visit_id}/conduct")
async def conduct_visit(request: Request, visit_id: UUID, account: SignedIn) -> Response:
    """Record the visit: how it was made, notes, the needs found (one to a line)."""
    app = _runtime(request).app
    return await submit(
        request, ConductVisitForm,
        lambda form: app.conduct_visit(visit_id, actor=account.username, mode=form.mode, notes=form.notes,
                                       needs_found=form.needs_found,
                                       occurred_at=in_zone(form.occurred_at, app.deployment.timezone)),
        done=lambda done: f"/visits/{visit_id}?{_after(done)}",
        again=_again(request, _visit_page, visit_id, account, failed="conduct"))


@router.post("/visits/{visit_id}/miss")
async def miss_visit(request: Request, visit_id: UUID, account: SignedIn) -> Response:
    """Record that the visit did not take place, and why."""
    app = _runtime(request).app
    return await submit(
        request, MissVisit,
        lambda form: app.miss_visit(visit_id, actor=account.username, reason=form.reason),
        done=lambda done: f"/visits/{visit_id}?{_after(done)}",
        again=_again(request, _visit_page, visit_id, account, failed="miss"))


@router.post("/visits/{visit_id}/demands")
async def raise_from_need(request: Request, visit_id: UUID, account: SignedIn) -> Response:
    """Raise a need found on the visit as a demand, linked to the visit, in the household's cell."""
    app = _runtime(request).app

    def raise_need(form: NeedAsDemand) -> Recorded:
        visit = app.visit(visit_id)
        require_in_scope([visit.cell_id], readable_cells(account, app.deployment), "visit", visit_id)
        return app.raise_demand(actor=account.username, channel="visit", title=form.title,
                                cell_id=visit.cell_id, visit_id=visit_id)

    return await submit(request, NeedAsDemand, raise_need,
                        done=lambda done: f"/visits/{visit_id}?{_after(done)}",
                        again=_again(request, _visit_page, visit_id, account, failed="need"))
