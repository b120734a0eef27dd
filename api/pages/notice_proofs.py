"""The notice board's verify page (核验): the proof of a notice checked in the resident's browser by our own
script (static/notice_proof.js), not by the server, with the proof and its head to download, and a form to
check that the log only grew between two heads one saved."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from api import i18n
from api.i18n import gettext as _
from api.names import Names
from api.notice_texts import check_titles, problems
from api.pages.render import render
from api.web.deps import RuntimeDep
from domain import errors
from domain.masking import masked
from domain.templates import TEMPLATES
from domain.vocabulary import (
    CHANNELS,
    CLOSING_OUTCOMES,
    DISCUSSION_OUTCOMES,
    NOTICE_KINDS,
    RATINGS,
    TRACKS,
    VOTE_OUTCOMES,
)
from domain.votes import VOTE_RULES
from projections import queries
from projections.notice_seals import heads_of_notices

router = APIRouter(include_in_schema=False)


def timeline_words(names: Names) -> dict[str, object]:
    """What the script needs to say a proved public fact (domain/public.py SHOWN) in words: each fact's
    name, the words of the vocabularies its details use, the deployment's time zone and the locale."""
    deployment = names.deployment
    steps = {step.key: names.step(template.key, step.key) for template in TEMPLATES.values()
             for step in template.steps}
    return {
        "whats": {"Raised": _("Demand registered"), "Triaged": _("Accepted and routed"),
                  "Escalated": _("Escalated"), "Discussed": _("Meeting held"), "Voted": _("Vote held"),
                  "Publicized": _("Made public"), "NoticeEnded": _("The notice period ended"),
                  "ImplementationProgressed": _("Implementation progress"), "Resolved": _("Demand resolved"),
                  "Closed": _("Case closed"), "FeedbackGiven": _("Feedback given"),
                  "FeedbackExpired": _("No feedback came in time"),
                  "Reopened": _("Reopened: the demand is being handled again")},
        "words": {
            "channel": {key: names.term("channel", key) for key in CHANNELS},
            "category": {key: names.category(key) for key in deployment.categories},
            "track": {key: names.term("track", key) for key in TRACKS},
            "template": {key: names.template(key) for key in TEMPLATES},
            "to_cell_id": {key: names.cell(key) for key in deployment.cells},
            "step": steps,
            "body": {key: names.term("vote_body", key) for key in VOTE_RULES},
            "kind": {key: names.term("notice_kind", key) for key in NOTICE_KINDS},
            "rating": {key: names.term("rating", key) for key in RATINGS},
            "outcome:Discussed": {key: names.term("discussion_outcome", key) for key in DISCUSSION_OUTCOMES},
            "outcome:Voted": {key: names.term("vote_outcome", key) for key in VOTE_OUTCOMES},
            "outcome:Closed": {key: names.term("outcome", key) for key in CLOSING_OUTCOMES},
        },
        "round": _("round {round}"), "until": _("until {ends}"),
        "zone": deployment.timezone, "locale": "zh-CN" if i18n.current.get() == "zh_CN" else "en-GB",
    }


def page_texts(names: Names) -> dict[str, object]:
    """The words the page's script writes, in the request's language."""
    return {**timeline_words(names), "checks": check_titles(), "problems": problems(),
            "proved": _("The proof holds: this notice is as it was published under the signed head"),
            "failed": _("The proof does not hold: this notice cannot be trusted as published"),
            "head": _("Signed tree head: {size} events, root {root}, signed at {at}"),
            "grew": _("From {first} to {second} events, the log only grew"),
            "notGrown": _("Not shown: the heads are not both genuine, or the log did not only grow"),
            "unavailable": _("The proof could not be fetched:"),
            "unreadable": _("Not a notice proof or head:"),
            "insecure": _("This browser cannot check signatures here: open the page over HTTPS")}


@router.get("/notices/{case_id}/{notice_id}/verify")
def verify_notice(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)], request: Request,
                  rt: RuntimeDep) -> Response:
    """A notice's proof, checked in the browser: each check's result, the public key's id to compare with
    the one published on paper, the case's public timeline read from the proved events."""
    with rt.reader.connect() as conn:
        notice = queries.notice(conn, case_id, notice_id, now=rt.app.clock())
        if notice is None:
            raise errors.NotFound("case {case} has no notice {notice}", case=case_id, notice=notice_id)
        posted = (str(case_id), int(notice["version"]))
        head = heads_of_notices(conn, [posted]).get(posted)
    return render(request, "notice_verify.html", notice=masked(notice), head=head,
                  texts=page_texts(Names(rt.app.deployment)))
