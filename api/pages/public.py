"""The residents' pages (no sign-in, phone-sized first): the notice board (公开栏) with its ended notices,
raising a demand (我要反映) and getting its receipt code, following it by the code (查询进度) and giving
feedback when asked, objecting to a notice still up (提出异议) and reading the answer by the objection's
receipt code.

Each form parses the public API's body model and runs the same use case (`api.rest.public`); the lookups by
receipt code and every form count against the public rate limit, as the API's do. Nothing here shows a name
or a phone number: the notices, the timeline (`domain.public`) and the objections are read without them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.compose import Runtime
from api.i18n import gettext as _
from api.names import Names
from api.pages.forms import Rejection, see_other, submit
from api.pages.queue import step_position
from api.pages.render import render
from api.rest.public import (
    Public,
    client_address,
    demand_by_receipt,
    lodge_public_objection,
    objection_by_receipt,
)
from api.rest.schemas import PublicDemand, PublicFeedback, PublicObjection
from api.web.deps import RuntimeDep
from domain import errors
from domain.application import RESIDENT, Recorded
from domain.demand import RATINGS, Demand
from domain.masking import masked
from domain.public import PublicStep, public_timeline
from projections import queries
from projections.notice_seals import sealed_under

router = APIRouter(include_in_schema=False)

NOTICES = 20  # notices on one page of the board
Code = Annotated[str, Query(max_length=20)]
Filter = Annotated[str | None, Query(max_length=200)]


# ---------------------------------------------------------------- the notice board
def board_page(request: Request, rt: Runtime, *, ended: bool, cell: str | None,
               cursor: str | None) -> Response:
    deployment = rt.app.deployment
    cell = cell if cell in deployment.cells else None
    cells = deployment.subtree(cell) if cell else None
    with rt.reader.connect() as conn:
        if ended:
            page = queries.ended_notices(conn, cells=cells, limit=NOTICES, cursor=cursor)
        else:
            page = queries.active_notices(conn, now=rt.app.clock(), cells=cells, limit=NOTICES, cursor=cursor)
        heads = sealed_under(conn, page.items)  # the signed head each was published under
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for notice, head in zip(masked(page.items), heads, strict=True):  # texts masked, as the API does
        notice["sealed_under"] = head
        notice["sealed_at"] = datetime.fromisoformat(head["signed_at"]) if head else None
        by_cell.setdefault(notice["cell_id"], []).append(notice)
    return render(request, "notices.html", ended=ended, by_cell=by_cell, page=page, cell=cell or "",
                  now=rt.app.clock(), cells=Names(deployment).cell_options(deployment.cells))


@router.get("/notices")
def notice_board(request: Request, rt: RuntimeDep, cell: Filter = None, cursor: Filter = None) -> Response:
    """The public notice board: notices still up, by cell, newest first."""
    return board_page(request, rt, ended=False, cell=cell, cursor=cursor)


@router.get("/notices/ended")
def ended_notices(request: Request, rt: RuntimeDep, cell: Filter = None, cursor: Filter = None) -> Response:
    """Notices whose period is over, the latest to end first, a page at a time."""
    return board_page(request, rt, ended=True, cell=cell, cursor=cursor)


# ---------------------------------------------------------------- objecting to a notice
def objection_form(request: Request, rt: Runtime, case_id: UUID, notice_id: str,
                   rejection: Rejection | None = None) -> Response:
    with rt.reader.connect() as conn:
        notice = queries.notice(conn, case_id, notice_id, now=rt.app.clock())
    if notice is None:
        raise errors.NotFound("case {case} has no notice {notice}", case=case_id, notice=notice_id)
    return render(request, "object.html", status=rejection.status if rejection else 200, rejection=rejection,
                  notice=masked(notice), now=rt.app.clock())


@router.get("/notices/{case_id}/{notice_id}/object")
def object_form(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)], request: Request,
                rt: RuntimeDep) -> Response:
    """The form to object to a notice: what the objection is, and a phone to be reached at."""
    return objection_form(request, rt, case_id, notice_id)


@router.post("/notices/{case_id}/{notice_id}/object")
async def lodge_objection(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)], request: Request,
                          rt: RuntimeDep) -> Response:
    """Lodge the objection; then its receipt code, to read the answer by. Refused, the form again with
    what was typed and the reason beside its field."""
    address = client_address(request)
    receipts: list[str] = []

    def lodge(form: PublicObjection) -> Recorded:
        recorded = lodge_public_objection(rt, case_id, notice_id, form, address)
        receipts.append(rt.app.objection_lodged(recorded).receipt or "")
        return recorded

    async def again(rejection: Rejection) -> Response:
        return await run_in_threadpool(objection_form, request, rt, case_id, notice_id, rejection)

    return await submit(request, PublicObjection, lodge, done=lambda _: f"/track/objection/{receipts[0]}",
                        again=again)


@router.get("/track/objection/{receipt}")
def objection_answer(receipt: Annotated[str, Path(max_length=20)], request: Request, rt: Public) -> Response:
    """An objection read by its receipt code: the notice, what was said and the answer, once given."""
    objection = objection_by_receipt(rt, receipt)
    return render(request, "objection.html", objection=objection)


# ---------------------------------------------------------------- raising a demand
def report_form(request: Request, rejection: Rejection | None = None) -> Response:
    deployment = request.app.state.runtime.app.deployment
    names = Names(deployment)
    return render(request, "report.html", status=rejection.status if rejection else 200, rejection=rejection,
                  cells=names.cell_options(deployment.cells),
                  categories=[(key, names.category(key)) for key in deployment.categories])


@router.get("/report")
def report(request: Request) -> Response:
    """The form to raise a demand: what it is about, where, and how to be reached."""
    return report_form(request)


@router.post("/report")
async def raise_demand(request: Request, rt: RuntimeDep) -> Response:
    """Raise the demand online; then its receipt code, large, and the way to follow it."""
    address = client_address(request)
    receipts: list[str] = []

    def raise_it(form: PublicDemand) -> Recorded:
        rt.limiter.check(address)
        recorded = rt.app.raise_demand(actor=RESIDENT, channel="online", **form.model_dump())
        assert isinstance(recorded.state, Demand)  # raising a demand answers with the case raised
        receipts.append(recorded.state.receipt)
        return recorded

    async def again(rejection: Rejection) -> Response:
        return report_form(request, rejection)

    return await submit(request, PublicDemand, raise_it, done=lambda _: f"/report/{receipts[0]}", again=again)


@router.get("/report/{receipt}")
def reported(receipt: Annotated[str, Path(max_length=20)], request: Request, rt: Public) -> Response:
    """The receipt code of a demand just raised, large, with the way to follow it."""
    demand = demand_by_receipt(rt, receipt)
    return render(request, "reported.html", receipt=demand.receipt)


# ---------------------------------------------------------------- following a demand
def found_at(rt: Runtime, code: str) -> str | None:
    """The page of the demand, or else of the objection, that has this receipt code; None if neither."""
    try:
        return f"/track/{quote(demand_by_receipt(rt, code).receipt)}"
    except errors.NotFound:
        pass
    try:
        return f"/track/objection/{quote(objection_by_receipt(rt, code)['receipt'])}"
    except errors.NotFound:
        return None


@router.get("/track")
def track(request: Request, rt: RuntimeDep, receipt: Code = "") -> Response:
    """The form asking for a receipt code (of a demand or of an objection); given one, its page, or the
    form again saying that nothing has that code, with the code as typed."""
    code = receipt.strip().upper()
    if not code:
        return render(request, "track.html", rejection=None)
    rt.limiter.check(client_address(request))
    page = found_at(rt, code)
    if page is None:
        message = _("Nothing has this receipt code: check it and try again")
        return render(request, "track.html", status=404,
                      rejection=Rejection(message, {"receipt": message}, {"receipt": receipt}, status=404))
    return see_other(page)


def follow_page(request: Request, rt: Runtime, demand: Demand,
                rejection: Rejection | None = None) -> Response:
    names = Names(rt.app.deployment)
    steps = public_timeline(rt.app.history(demand.id))
    return render(request, "follow.html", status=rejection.status if rejection else 200, rejection=rejection,
                  demand=demand, position=step_position(demand.template_key, demand.current_step),
                  timeline=[(step, sentence(step, demand, names)) for step in steps],
                  ratings=[(key, names.term("rating", key)) for key in RATINGS], now=rt.app.clock())


@router.get("/track/{receipt}")
def follow(receipt: Annotated[str, Path(max_length=20)], request: Request, rt: Public) -> Response:
    """Where a demand stands, in plain words, and the feedback form when feedback is asked."""
    return follow_page(request, rt, demand_by_receipt(rt, receipt))


@router.post("/track/{receipt}/feedback")
async def give_feedback(receipt: Annotated[str, Path(max_length=20)], request: Request,
                        rt: RuntimeDep) -> Response:
    """Say whether the demand was met; then the demand's page again, showing the answer."""
    address = client_address(request)
    demand = await run_in_threadpool(demand_by_receipt, rt, receipt)

    def rate(form: PublicFeedback) -> Recorded:
        rt.limiter.check(address)
        return rt.app.give_feedback(demand.id, actor=RESIDENT, **form.model_dump())

    async def again(rejection: Rejection) -> Response:
        return await run_in_threadpool(follow_page, request, rt, demand, rejection)

    return await submit(request, PublicFeedback, rate,
                        done=lambda _: f"/track/{quote(demand.receipt)}#feedback", again=again)


def sentence(step: PublicStep, demand: Demand, names: Names) -> str:
    """One fact of the public timeline in words (no one's name: who did it is never said)."""
    d = step.details
    said = {
        "Raised": lambda: _("The demand was registered ({channel})").format(
            channel=names.term("channel", d["channel"])),
        "Triaged": lambda: (_("Accepted as {category}: {track}, by the process {template}") if d["template"]
                            else _("Accepted as {category}: {track}")).format(
            category=names.category(d["category"]), track=names.term("track", d["track"]),
            template=names.template(d["template"])),
        "Escalated": lambda: _("Escalated to {cell}").format(cell=names.cell(d["to_cell_id"])),
        "Discussed": lambda: (_("{step} (round {round}): returned for a new round")
                              if d["outcome"] == "returned"
                              else _("{step} (round {round}): endorsed")).format(
            step=names.step(demand.template_key, d["step"]), round=d["round"]),
        "Voted": lambda: _("{step} (round {round}), {body}: {outcome}").format(
            step=names.step(demand.template_key, d["step"]), round=d["round"],
            body=names.term("vote_body", d["body"]), outcome=names.term("vote_outcome", d["outcome"])),
        "Publicized": lambda: _("Made public ({kind}): {text}").format(
            kind=names.term("notice_kind", d["kind"]), text=d["text"]),
        "NoticeEnded": lambda: _("The notice period ended"),
        "ImplementationProgressed": lambda: _("Carried out so far: {percent}% {summary}").format(
            percent=d["percent"], summary=d["summary"]),
        "Resolved": lambda: _("Resolved: {summary}").format(summary=d["summary"]),
        "Closed": lambda: _("Closed: {outcome} {explanation}").format(
            outcome=names.term("outcome", d["outcome"]), explanation=d["explanation"]),
        "FeedbackAsked": lambda: _("Your feedback is asked"),
        "FeedbackGiven": lambda: _("Feedback given: {rating}").format(
            rating=names.term("rating", d["rating"])),
        "FeedbackExpired": lambda: _("No feedback came in time"),
        "Reopened": lambda: _("Reopened: the demand is being handled again"),
    }
    return said[step.what]().strip()
