"""The sealed log for anyone, without signing in: its public key, its signed tree heads and the proof that the
log only grew between two of them (RFC 9162 consistency), so a resident who saved a head can check a later
one. Hashes and signatures are in hex; the leaves and what they hold are not published here."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any
from uuid import UUID

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Query

from api.rest.common import Limit
from api.rest.public import Public
from domain import errors, merkle
from domain.application import Minqing
from domain.audit import Break, Verification
from domain.chain import plain
from domain.seal import CaseSeal, SealedRecord, key_id, public_key_bytes
from projections.sealed_log import SealedLog

# Tagged "public" too: documented as rate-limited (429); 404 while the log is not sealed (no signing key).
router = APIRouter(prefix="/api/v1/log", tags=["sealed log", "public"], responses={404: {"description": ""}})
LARGEST = 2**63 - 1  # the largest integer the databases keep: a larger size is refused, never sent to them
Size = Annotated[int, Query(ge=0, le=LARGEST,
                            description="The size of a signed tree head (its number of events)")]


def sealed_log(sealed: SealedLog | None) -> SealedLog:
    if sealed is None:
        raise errors.NotFound("this log is not sealed: no signing key is configured")
    return sealed


def held(sealed: SealedLog, tree_size: int) -> merkle.Subtrees:
    """What reads the stored complete subtrees of the tree of a signed head for its proofs; NotFound when the
    sealed log no longer holds one of them."""

    def subtrees(wanted: Collection[merkle.Node]) -> Mapping[merkle.Node, bytes]:
        found = sealed.subtrees(wanted)
        if len(found) < len(set(wanted)):
            raise errors.NotFound("the sealed log no longer holds the {size} events of its signed head",
                                  size=tree_size)
        return found
    return subtrees


@router.get("/public-key")
def public_key(rt: Public) -> Any:
    """The Ed25519 public key the tree heads are signed with: raw (hex) and PEM, and its id (the SHA-256 of
    the raw key, as each signed head names it); `retired` lists the keys that signed heads before it, each
    with `retired_at` (a head it signed after that is not to be trusted), oldest first."""
    sealed = sealed_log(rt.sealed)
    key = sealed.public_key
    raw = public_key_bytes(key)
    return {"algorithm": "Ed25519", "key_id": key_id(key), "public_key": raw.hex(),
            "pem": key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
            "retired": [retired.as_json() for retired in sealed.retired_keys]}


@router.get("/heads")
def heads(rt: Public,
          after: Annotated[int, Query(ge=-1, le=LARGEST, description="Heads larger than this size")] = -1,
          limit: Limit = 50) -> Any:
    """The signed tree heads, smallest first: `{tree_size, root_hash, signed_at, key_id, signature}`; the
    signature is over the canonical JSON of `{tree_size, root_hash, signed_at}` (sorted keys, no spaces).
    `next_after` reads the next page."""
    found = sealed_log(rt.sealed).heads(after=after, limit=limit + 1)
    page = found[:limit]
    return {"heads": [h.as_json() for h in page],
            "next_after": page[-1].tree_size if len(found) > limit else None}


@router.get("/consistency")
def consistency(rt: Public, first: Size, second: Size) -> Any:
    """The proof that the tree of the signed head of size `first` is a prefix of the one of size `second`
    (RFC 9162, section 2.1.4): the log only grew between them. Both must be sizes of signed heads."""
    if first > second:
        raise errors.InvalidInput("the first tree ({first} events) is larger than the second ({second})",
                                  first=first, second=second)
    sealed = sealed_log(rt.sealed)
    older, newer = sealed.head(first), sealed.head(second)
    for size, head in ((first, older), (second, newer)):
        if head is None and size:
            raise errors.NotFound("no signed tree head of {size} events", size=size)
    if sealed.size() < second:
        raise errors.NotFound("the sealed log no longer holds the {size} events of its signed head",
                              size=second)
    proof = merkle.stored_consistency_proof(first, second, held(sealed, second))
    return {"first": older.as_json() if older else None, "second": newer.as_json() if newer else None,
            "proof": [node.hex() for node in proof]}


def _breaks(breaks: list[Break]) -> list[dict[str, Any]]:
    return [{"aggregate_id": b.aggregate_id, "version": b.version, "problem": b.problem} for b in breaks]


def case_verification(app: Minqing, demand_id: UUID, sealed: SealedRecord | None) -> Any:
    """A case's chain, and with a sealed log each of its events' leaf checked and proved included under the
    latest signed head (hex hashes; `proof` is the RFC 9162 audit path of the leaf)."""
    chain: Verification
    found: CaseSeal | None = None
    if sealed is None:
        chain = app.verify(demand_id)
    else:
        chain, found = app.verify_sealed(demand_id, sealed)
    breaks = [*chain.breaks, *(found.breaks if found else [])]
    body: dict[str, Any] = {"id": demand_id, "intact": not breaks, "events": chain.events,
                            "breaks": _breaks(breaks)}
    if found is None:
        return plain(body | {"sealed": None})
    return plain(body | {"sealed": {
        "head": found.head.as_json() if found.head else None,
        "not_yet_sealed": found.unsealed,
        "leaves": [{"version": i.version, "leaf_index": i.leaf_index, "leaf_hash": i.leaf_hash.hex(),
                    "proof": [node.hex() for node in i.proof], "included": i.included}
                   for i in found.inclusions],
    }})
