"""What residents reach without an account: the notice board, raising a demand, following it by
its receipt code, and giving feedback. Nothing here ever shows a name or a phone number."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.compose import Runtime
from api.rest.common import Cursor, Limit, Offset, listing, recorded
from api.rest.schemas import PublicDemand, PublicFeedback, Receipt
from api.web.deps import RequestRecord, RuntimeDep
from domain.application import RESIDENT, Recorded
from domain.chain import plain
from domain.demand import Demand
from domain.errors import NotFound
from projections import queries
from projections.paging import Page

router = APIRouter(prefix="/api/v1", tags=["public"])


def limited(request: Request, rt: RuntimeDep) -> Runtime:
    rt.limiter.check(request.client.host if request.client else "unknown")
    return rt


Public = Annotated[Runtime, Depends(limited)]


@router.get("/notices", response_model=Page)
def notices(rt: Public, cell: str | None = None, limit: Limit = 50,
            offset: Offset = 0, cursor: Cursor = None) -> Any:
    """The public notice board: notices still up, with the digest of the case history behind each."""
    cells = rt.app.deployment.subtree(cell) if cell else None
    with rt.reader.connect() as conn:
        page = queries.active_notices(conn, now=rt.app.clock(), cells=cells, limit=limit, offset=offset,
                                      cursor=cursor)
    return listing(page, masked=True)  # the public sees no one's personal data


@router.post("/public/demands", status_code=201, response_model=Receipt)
async def raise_public(body: PublicDemand, rt: Public, response: Response, once: RequestRecord) -> Receipt:
    """Raise a demand online; keep the receipt code to follow it and to give feedback."""
    done = await rt.command(
        lambda: rt.app.raise_demand(actor=RESIDENT, channel="online", **body.model_dump()), None, once)
    receipt = (await run_in_threadpool(rt.app.demand, done.id)).receipt
    response.headers["Location"] = f"/api/v1/public/demands/{receipt}"
    return Receipt(receipt=receipt, position=done.position)


def _by_receipt(rt: Runtime, receipt: str) -> Demand:
    for attempt in range(2):
        with rt.reader.connect() as conn:
            page = queries.search_cases(conn, receipt=receipt.upper(), limit=1)
        if page.items:
            return rt.app.demand(UUID(page.items[0]["id"]))
        if attempt == 0:  # a demand raised a moment ago may not be in the case list yet
            rt.wait_for_views(rt.app.recorder.max_notification_id(), ["cases"], seconds=3)
    raise NotFound("no demand with receipt {receipt}", receipt=receipt)


@router.get("/public/demands/{receipt}")
def follow(receipt: Annotated[str, Path(max_length=20)], rt: Public) -> Any:
    """Where a demand stands: status, step, outcome and its public notices — no personal data."""
    demand = _by_receipt(rt, receipt)
    return plain({"receipt": demand.receipt, "category": demand.category, "status": demand.status,
                  "current_step": demand.current_step, "outcome": demand.outcome,
                  "raised_at": demand.raised_at,
                  "feedback_state": demand.feedback_state, "feedback_due": demand.feedback_due,
                  "notices": [{"notice_id": k, **{f: v for f, v in n.items() if f != "round"}}
                              for k, n in demand.notices.items()]})


@router.post("/public/demands/{receipt}/feedback", response_model=Recorded)
async def public_feedback(receipt: Annotated[str, Path(max_length=20)], body: PublicFeedback,
                          rt: Public, once: RequestRecord) -> Response:
    """Say whether the demand was met: satisfied, basically satisfied or dissatisfied."""
    demand = await run_in_threadpool(_by_receipt, rt, receipt)
    return recorded(await rt.command(
        lambda: rt.app.give_feedback(demand.id, actor=RESIDENT, **body.model_dump()), None, once))
