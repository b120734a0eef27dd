"""A public notice's proof, for anyone: the signed head the notice was published under, the log's public key,
and every event of its case up to that head as its sealed leaf with its inclusion path (domain/notice_proof.py
says what is in it and how it is checked). Facts the public does not read are there only as commitments."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path

from api.compose import Runtime
from api.rest.public import Public
from api.rest.sealing import held, sealed_log
from domain import errors, notice_proof
from domain.chain import ChainedAggregate
from domain.masking import mask_text
from domain.seal import SignedHead, key_of
from projections import queries
from projections.notice_seals import heads_of_notices

router = APIRouter(prefix="/api/v1/public/notices", tags=["public"])


def notice_and_head(rt: Runtime, case_id: UUID, notice_id: str) -> tuple[dict[str, Any], SignedHead | None]:
    """A notice on the board and the signed head it was published under (None until the next seal);
    NotFound for a notice not on the board."""
    with rt.reader.connect() as conn:
        notice = queries.notice(conn, case_id, notice_id, now=rt.app.clock())
        if notice is None:
            raise errors.NotFound("case {case} has no notice {notice}", case=case_id, notice=notice_id)
        posted = (str(case_id), int(notice["version"]))
        return notice, heads_of_notices(conn, [posted]).get(posted)


def proof_of_notice(rt: Runtime, case_id: UUID, notice_id: str) -> dict[str, Any]:
    """The proof of a notice on the board under the head it was published under; NotFound for a notice not
    on the board, or one posted since the last seal (its proof follows at the next)."""
    sealed = sealed_log(rt.sealed)
    notice, head = notice_and_head(rt, case_id, notice_id)
    if head is None:
        raise errors.NotFound("the notice {notice} is not yet sealed: its proof follows within minutes",
                              notice=notice_id)
    events = [e for e in rt.app.events.get(case_id) if isinstance(e, ChainedAggregate.Event)]
    return notice_proof.build(case_id, notice_id, mask_text(notice["text"]), events,
                              sealed.leaves_of(str(case_id)), head, held(sealed, head.tree_size),
                              key_of(head, sealed) or sealed.public_key)


@router.get("/{case_id}/{notice_id}/proof")
def proof(case_id: UUID, notice_id: Annotated[str, Path(max_length=80)], rt: Public) -> Any:
    """The proof of a public notice: `head` (the signed tree head it was published under), `public_key` (the
    key that signed that head, with `retired_at` when it has been retired since),
    `notice` (its id, text and the case's version that posted it), and `leaves` — for each event of the case
    up to that head, `{version, leaf_index, content, path}`: `content` is the exact text whose UTF-8 bytes
    were hashed (RFC 9162 leaf: SHA-256 of 0x00 and the bytes), `path` the leaf's inclusion path (hex). A
    leaf's `public` is what the public reads of the event, null for any other fact, which is there only as
    its salted `commitment`. 404 while the notice is not yet sealed."""
    return proof_of_notice(rt, case_id, notice_id)
