"""The notice board's verify page (校验): the proof of a notice checked in the resident's browser by our own
script (static/notice_proof.js), not by the server, with the proof and its head to download, and a form to
check that the log only grew between two heads one saved."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from api.i18n import gettext as _
from api.names import Names
from api.notice_texts import check_titles, problems, timeline_words
from api.pages.render import render
from api.rest.notice_proofs import notice_and_head
from api.web.deps import RuntimeDep
from domain.masking import masked

router = APIRouter(include_in_schema=False)


def page_texts(names: Names) -> dict[str, object]:
    """The words the page's script writes, in the request's language."""
    return {**timeline_words(names), "checks": check_titles(), "problems": problems(),
            "proved": _("The proof holds: this notice is as it was published under the signed head"),
            "failed": _("The proof does not hold: this notice cannot be trusted as published"),
            "head": _("Signed tree head: {size} events, root {root}, signed at {at}"),
            "grew": _("From {first} to {second} events, the log only grew"),
            "notGrown": _("Not shown: the heads are not both genuine, or the log did not only grow"),
            "retired": _("A retired key of this log: retired at {at}, after it signed this head"),
            "unavailable": _("The proof could not be fetched:"),
            "unreadable": _("Not a notice proof or head:"),
            "insecure": _("This browser cannot check signatures here: open the page over HTTPS")}


@router.get("/notices/{case_id}/{notice_id}/verify")
def verify_notice(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)], request: Request,
                  rt: RuntimeDep) -> Response:
    """A notice's proof, checked in the browser: each check's result, the public key's id to compare with
    the one published on paper, the case's public timeline read from the proved events."""
    notice, head = notice_and_head(rt, case_id, notice_id)
    return render(request, "notice_verify.html", notice=masked(notice), head=head,
                  texts=page_texts(Names(rt.app.deployment)))
