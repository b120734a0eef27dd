"""Raise a demand (登记诉求): a member of staff records what a resident asked for, through a channel,
in a cell of their scope, optionally from a household visit; the open cases already in that cell are
listed before saving, so a matter is not raised twice."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.names import Names
from api.pages.forms import Rejection, submit
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.schemas import RaiseDemand
from api.web.deps import RuntimeDep, masks_personal_data, readable_cells
from domain.account import Account
from domain.deployment import CHANNELS
from domain.masking import masked
from projections import queries

router = APIRouter(include_in_schema=False)

SIMILAR = 5  # open cases of the same cell listed beside the form
Filter = Annotated[str | None, Query(max_length=200)]


def similar_cases(request: Request, cell: str | None, category: str | None,
                  account: Account) -> list[dict[str, Any]]:
    """The newest open cases of `cell` (and of `category`, when one is chosen), if the cell is in
    the account's scope."""
    runtime = request.app.state.runtime
    if not cell or cell not in readable_cells(account, runtime.app.deployment):
        return []
    with runtime.reader.connect() as conn:
        found = queries.search_cases(conn, cells=[cell], category=category or None, open_only=True,
                                     sort="-raised_at", limit=SIMILAR).items
    return masked(found) if masks_personal_data(account) else found


def form_page(request: Request, account: Account, rejection: Rejection | None = None,
              status: int = 200, visit: str = "") -> Response:
    deployment = request.app.state.runtime.app.deployment
    names = Names(deployment)
    values = rejection.values if rejection else {}
    return render(request, "raise_demand.html", status=status, rejection=rejection,
                  channels=[(key, names.term("channel", key)) for key in CHANNELS],
                  cells=names.cell_options(readable_cells(account, deployment)),
                  categories=[(key, names.category(key)) for key in deployment.categories],
                  visit=visit, similar=similar_cases(request, str(values.get("cell_id") or ""),
                                                     str(values.get("category") or ""), account))


@router.get("/cases/new")
def new_case(request: Request, account: SignedIn, visit: Filter = None) -> Response:
    """The form to raise a demand; `?visit=<id>` links it to a household visit."""
    return form_page(request, account, visit=visit or "")


@router.get("/cases/new/similar")
def similar(request: Request, account: SignedIn, cell_id: Filter = None, category: Filter = None) -> Response:
    """The open cases of the chosen cell (an htmx partial of the form)."""
    return render(request, "similar_cases.html", similar=similar_cases(request, cell_id, category, account),
                  cell_id=cell_id)


@router.post("/cases/new")
async def raise_demand(request: Request, account: SignedIn, rt: RuntimeDep) -> Response:
    """Record the demand; on success the case's page, else the form again with the error beside its
    field and what was typed."""
    async def again(rejection: Rejection) -> Response:
        return form_page(request, account, rejection, status=rejection.status)

    return await submit(request, RaiseDemand,
                        lambda form: rt.app.raise_demand(actor=account.username, **form.model_dump()),
                        done=lambda recorded: f"/cases/{recorded.id}", again=again)
