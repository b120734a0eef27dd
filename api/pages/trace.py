"""The accountability trace (责任追溯) of a case on a page: who held it and for how long, which cell was
responsible, at which step it waited; each deadline missed, escalation and accountability flag, in time
order — the table the API's trace exports (api.tables.trace_rows), read from the case's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import tables
from api.exports import FORMATS, Table, exported
from api.names import Names
from api.pages.cases import scope_of
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.demands import readable
from api.web.deps import masks_personal_data
from domain.account import Account
from domain.application import Minqing
from domain.audit import trace
from domain.demand import Demand
from domain.masking import masked

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Trace:
    demand: Demand
    table: Table
    rows: list[dict[str, Any]]
    names: Names


def trace_of(app: Minqing, account: Account, demand_id: UUID) -> Trace:
    """A case's trace as the account may read it (a case outside its cells is not found)."""
    demand = readable(app, demand_id, scope_of(app, account))
    found = trace(app.history(demand_id), app.clock())
    names = tables.trace_names(app, found)
    rows = tables.trace_rows(found, names)
    shown = masked(rows) if masks_personal_data(account) else rows
    return Trace(demand, tables.trace(demand_id), shown, names)


@router.get("/cases/{demand_id}/trace")
async def show(demand_id: UUID, request: Request, account: SignedIn) -> Response:
    """A case's accountability trace, with links to it as CSV and XLSX."""
    found = await run_in_threadpool(trace_of, request.app.state.runtime.app, account, demand_id)
    return render(request, "trace.html", trace=found, names=found.names, formats=FORMATS)


@router.get("/cases/{demand_id}/trace/export")
async def export(demand_id: UUID, request: Request, account: SignedIn,
                 format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    """A case's accountability trace as CSV or XLSX, headed in the page's language."""
    found = await run_in_threadpool(trace_of, request.app.state.runtime.app, account, demand_id)
    return exported(found.table, found.rows, format, found.names)
