"""Households (住户) and visits (走访): register, schedule, conduct, miss; list with coverage."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.rest.common import After, Cursor, Limit, Offset, listing, narrowed, require_in_scope
from api.rest.schemas import ConductVisit, MissVisit, Recategorise, RegisterHousehold, ScheduleVisit
from api.rest.written import HouseholdWritten, VisitWritten, answer
from api.web.deps import App, RequestRecord, RuntimeDep, Scope, Staff, masks_personal_data
from domain.chain import plain
from domain.masking import masked
from projections import queries
from projections.paging import Page

router = APIRouter(prefix="/api/v1", tags=["households and visits"])


@router.post("/households", status_code=201, response_model=HouseholdWritten)
async def register(body: RegisterHousehold, rt: RuntimeDep, actor: Staff, once: RequestRecord) -> Response:
    """Register a household in a grid cell; its categories set how often it is visited."""
    done = await rt.command(
        lambda: rt.app.register_household(actor=actor.username, **body.model_dump()), None, once)
    return answer(HouseholdWritten.of(done), hide=masks_personal_data(actor),
                  created=f"/api/v1/households/{done.id}")


@router.get("/households", response_model=Page)
def list_households(rt: RuntimeDep, scope: Scope, actor: Staff, cell: str | None = None,
                    visitor: str | None = None, overdue: bool | None = None, sort: str = "next_due_at",
                    limit: Limit = 50, offset: Offset = 0, cursor: Cursor = None, after: After = None) -> Any:
    """Households with last visit, next visit due and whether overdue (the visit coverage view)."""
    rt.wait_for_views(after, ["visit_coverage"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        page = queries.households(conn, now=rt.app.clock(), cells=cells, visitor=visitor, overdue=overdue,
                                  sort=sort, limit=limit, offset=offset, cursor=cursor)
    return listing(page, masked=masks_personal_data(actor))


@router.get("/households/{household_id}")
def get_household(household_id: UUID, app: App, actor: Staff, scope: Scope) -> Any:
    """A household's registration and categories."""
    household = app.household(household_id)
    require_in_scope([household.cell_id], scope, "household", household_id)
    hide = masks_personal_data(actor)
    state: dict[str, Any] = plain({
        "id": household.id, "version": household.version, "cell_id": household.cell_id,
        "address": household.address, "members": household.members, "categories": household.categories,
        "cadence_days": household.cadence_days, "registered_at": household.registered_at,
        "head_name": household.head_name, "phone": household.phone})
    return masked(state) if hide else state


@router.post("/households/{household_id}/categories", response_model=HouseholdWritten)
async def recategorise(household_id: UUID, body: Recategorise, rt: RuntimeDep, actor: Staff,
                       once: RequestRecord) -> Response:
    """Change a household's categories (and so how often it is visited)."""
    done = await rt.command(
        lambda: rt.app.recategorise_household(household_id, actor=actor.username,
                                              categories=list(body.categories), occurred_at=body.occurred_at),
        None, once)
    return answer(HouseholdWritten.of(done), hide=masks_personal_data(actor))


@router.post("/households/{household_id}/visits", status_code=201, response_model=VisitWritten)
async def schedule(household_id: UUID, body: ScheduleVisit, rt: RuntimeDep, actor: Staff,
                   once: RequestRecord) -> Response:
    """Schedule a visit to a household."""
    done = await rt.command(
        lambda: rt.app.schedule_visit(household_id, actor=actor.username, **body.model_dump()), None, once)
    return answer(VisitWritten.of(done), hide=masks_personal_data(actor), created=f"/api/v1/visits/{done.id}")


@router.get("/visits/{visit_id}")
def get_visit(visit_id: UUID, app: App, actor: Staff, scope: Scope) -> Any:
    """A visit: household, visitor, purpose, due date, status and the demands raised from it."""
    visit = app.visit(visit_id)
    require_in_scope([visit.cell_id], scope, "visit", visit_id)
    return plain({"id": visit.id, "version": visit.version, "household_id": visit.household_id,
                  "cell_id": visit.cell_id, "visitor": visit.visitor, "purpose": visit.purpose,
                  "due_at": visit.due_at, "status": visit.status, "demand_ids": visit.demand_ids})


@router.post("/visits/{visit_id}/conduct", response_model=VisitWritten)
async def conduct(visit_id: UUID, body: ConductVisit, rt: RuntimeDep, actor: Staff,
                  once: RequestRecord) -> Response:
    """Record that the visit took place, and the needs found."""
    done = await rt.command(
        lambda: rt.app.conduct_visit(visit_id, actor=actor.username, **body.model_dump()), None, once)
    return answer(VisitWritten.of(done), hide=masks_personal_data(actor))


@router.post("/visits/{visit_id}/miss", response_model=VisitWritten)
async def miss(visit_id: UUID, body: MissVisit, rt: RuntimeDep, actor: Staff,
               once: RequestRecord) -> Response:
    """Record that the visit did not take place."""
    done = await rt.command(
        lambda: rt.app.miss_visit(visit_id, actor=actor.username, **body.model_dump()), None, once)
    return answer(VisitWritten.of(done), hide=masks_personal_data(actor))


