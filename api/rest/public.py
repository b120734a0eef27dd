"""What residents reach without an account: the notice board, raising a demand, following it by
its receipt code, giving feedback, and objecting to a notice (and reading the answer by the objection's
receipt). Nothing here ever shows a name or a phone number."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.compose import Runtime
from api.rest.common import Cursor, Limit, Offset, listing
from api.rest.schemas import PublicDemand, PublicFeedback, PublicObjection, PublicObjectionAnswer
from api.rest.written import FeedbackWindow, ObjectionReceipt, Receipt, answer
from api.web.deps import RequestRecord, RuntimeDep
from domain.application import RESIDENT, Recorded
from domain.chain import plain
from domain.demand import Demand
from domain.errors import NotFound
from domain.masking import mask_text
from domain.public import public_timeline
from projections import queries
from projections.notice_seals import sealed_under
from projections.paging import Page

router = APIRouter(prefix="/api/v1", tags=["public"])


def limited(request: Request, rt: RuntimeDep) -> Runtime:
    rt.limiter.check(request.client.host if request.client else "unknown")
    return rt


Public = Annotated[Runtime, Depends(limited)]


@router.get("/notices", response_model=Page)
def notices(rt: Public, cell: str | None = None, ended: bool = False, limit: Limit = 50,
            offset: Offset = 0, cursor: Cursor = None) -> Any:
    """The public notice board: notices still up (or, with `ended=true`, those taken down once their
    period was over), each with `sealed_under`, the signed tree head it was published under (null until
    the next seal): its proof, which anyone can check with the log's public key, is at `…/proof`. (The
    case's chain digest is not shown: it covers personal data, so nobody outside could check it.)"""
    cells = rt.app.deployment.subtree(cell) if cell else None
    with rt.reader.connect() as conn:
        if ended:
            page = queries.ended_notices(conn, cells=cells, limit=limit, offset=offset, cursor=cursor)
        else:
            page = queries.active_notices(conn, now=rt.app.clock(), cells=cells, limit=limit, offset=offset,
                                          cursor=cursor)
        heads = sealed_under(conn, page.items)
    body = listing(page, masked=True)  # the public sees no one's personal data
    body["items"] = [{**item, "sealed_under": head} for item, head in zip(body["items"], heads, strict=True)]
    return body


@router.post("/public/demands", status_code=201, response_model=Receipt)
async def raise_public(body: PublicDemand, rt: Public, once: RequestRecord) -> Response:
    """Raise a demand online; keep the receipt code to follow it and to give feedback."""
    done = await rt.command(
        lambda: rt.app.raise_demand(actor=RESIDENT, channel="online", **body.model_dump()), None, once)
    receipt = Receipt.of(done)
    return answer(receipt, hide=True, created=f"/api/v1/public/demands/{receipt.receipt}")


def demand_by_receipt(rt: Runtime, receipt: str) -> Demand:
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
    """Where a demand stands: status, step, outcome, its public notices and its timeline in order (what
    happened and when, never who) — no personal data."""
    demand = demand_by_receipt(rt, receipt)
    timeline = public_timeline(rt.app.history(demand.id))
    return plain({"receipt": demand.receipt, "category": demand.category, "status": demand.status,
                  "template": demand.template_key, "current_step": demand.current_step,
                  "outcome": demand.outcome, "raised_at": demand.raised_at, "cell_id": demand.cell_id,
                  "feedback_state": demand.feedback_state, "feedback_due": demand.feedback_due,
                  "notices": [{"notice_id": k, **{f: v for f, v in n.items() if f != "round"}}
                              for k, n in demand.notices.items()],
                  "timeline": [{"what": step.what, "occurred_at": step.occurred_at, **step.details}
                               for step in timeline]})


@router.post("/public/demands/{receipt}/feedback", response_model=FeedbackWindow)
async def public_feedback(receipt: Annotated[str, Path(max_length=20)], body: PublicFeedback,
                          rt: Public, once: RequestRecord) -> Response:
    """Say whether the demand was met: satisfied, basically satisfied or dissatisfied."""
    demand = await run_in_threadpool(demand_by_receipt, rt, receipt)
    done = await rt.command(
        lambda: rt.app.give_feedback(demand.id, actor=RESIDENT, **body.model_dump()), None, once)
    return answer(FeedbackWindow.of(done), hide=True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def lodge_public_objection(rt: Runtime, case: UUID, notice_id: str, body: PublicObjection,
                           address: str) -> Recorded:
    """A resident's objection, counted against the limits on its phone and its address first (a refused
    objection counts too: the limits are there against floods)."""
    rt.objection_limits.check(body.phone, address)
    return rt.app.lodge_objection(case, actor=RESIDENT, notice_id=notice_id, **body.model_dump())


@router.post("/public/notices/{case_id}/{notice_id}/objections", status_code=201,
             response_model=ObjectionReceipt)
async def object_to_notice(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)],
                           body: PublicObjection, request: Request, rt: Public,
                           once: RequestRecord) -> Response:
    """Object to a notice while it is up, leaving a contact phone (kept as personal data: never shown
    publicly); keep the receipt code to read the answer. At most so many objections a day from one phone
    and an hour from one address (429)."""
    address = client_address(request)
    done = await rt.command(lambda: lodge_public_objection(rt, case_id, notice_id, body, address), None, once)
    lodged = ObjectionReceipt.of(done)
    return answer(lodged, hide=True, created=f"/api/v1/public/objections/{lodged.receipt}")


def objection_by_receipt(rt: Runtime, receipt: str) -> dict[str, Any]:
    """An objection as its receipt shows it, its texts' numbers masked; waits a moment for the view when it
    is not there yet (lodged a moment ago)."""
    for attempt in range(2):
        with rt.reader.connect() as conn:
            found = queries.objection_by_receipt(conn, receipt.upper())
        if found is not None:
            return {**found, **{name: mask_text(found[name]) if found[name] is not None else None
                                for name in ("text", "answer", "notice_text")}}
        if attempt == 0:
            rt.wait_for_views(rt.app.recorder.max_notification_id(), ["objections"], seconds=3)
    raise NotFound("no objection with receipt {receipt}", receipt=receipt)


@router.get("/public/objections/{receipt}", response_model=PublicObjectionAnswer)
def objection_answer(receipt: Annotated[str, Path(max_length=20)], rt: Public) -> Any:
    """An objection by its receipt code: the notice it was lodged to, what was said and, once given, the
    answer — no name and no phone number."""
    return objection_by_receipt(rt, receipt)
