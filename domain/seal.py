"""Sealing the log: every stored event, in log order, is a leaf of a Merkle tree (domain/merkle.py, RFC 9162),
and tree heads — size, root, time — are signed with an Ed25519 key kept outside the database.

A leaf is the canonical JSON of `{"aggregate", "version", "public", "commitment"}`: `public` is what the
public reads of a case's event (domain/public.py; null for every other event), `commitment` is
`sha256(salt || chain value)` with a random salt kept beside the leaf. So the public part of a case can be
checked by anyone who is given the salt's commitment, while the event's personal data stays unrevealed; and
`verify` recomputes each leaf from the stored event and its salt. This leaf form is a public contract, like
the chain's (domain/chain.py): changing it makes what was sealed before unverifiable.

The storage of leaves and heads is the caller's (`SealedRecord`): projections/sealed_log.py keeps them in the
database, and every signed head also in a file beside the key, so a database rolled back is found out; and
beside the leaves the root of every complete subtree, from which proofs are built (domain/merkle.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain import merkle
from domain.audit import Break, Verification, entry_of
from domain.chain import ChainedAggregate, plain
from domain.demand import Demand
from domain.public import public_step

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

SALT_BYTES = 16
NODES_CHECKED_AT_ONCE = 5000
LOG = "log"     # what a break of the sealed log as a whole names instead of an aggregate


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed or signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(plain(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def public_form(event: ChainedAggregate.Event) -> dict[str, Any] | None:
    """What the public reads of an event: a case's fact as the public timeline shows it, else None."""
    if getattr(Demand, type(event).__name__, None) is not type(event):
        return None
    step = public_step(entry_of(event))
    if step is None:
        return None
    return {"what": step.what, "occurred_at": step.occurred_at, "details": step.details}


def commitment(salt: bytes, chain: str) -> str:
    return hashlib.sha256(salt + bytes.fromhex(chain)).hexdigest()


def leaf_content(event: ChainedAggregate.Event, salt: bytes) -> bytes:
    return canonical({"aggregate": event.originator_id, "version": event.originator_version,
                      "public": public_form(event), "commitment": commitment(salt, event.chain)})


def leaf_of(event: ChainedAggregate.Event, salt: bytes) -> bytes:
    """The leaf hash of a stored event with its salt."""
    return merkle.leaf_hash(leaf_content(event, salt))


@dataclass(frozen=True)
class Leaf:
    """A sealed event: its place in the tree and in the log, whose it is, its salt and its leaf hash."""

    index: int
    notification_id: int
    originator_id: str
    originator_version: int
    salt: bytes
    hash: bytes


@dataclass(frozen=True)
class SignedHead:
    """A tree head (the tree of the first `tree_size` leaves has `root_hash`) signed at `signed_at` (ISO text,
    as signed) with the key whose public key hashes to `key_id`."""

    tree_size: int
    root_hash: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return head_message(self.tree_size, self.root_hash, self.signed_at)

    def as_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(), "signed_at": self.signed_at,
                "key_id": self.key_id, "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedHead:
        return cls(int(data["tree_size"]), bytes.fromhex(data["root_hash"]), str(data["signed_at"]),
                   str(data["key_id"]), bytes.fromhex(data["signature"]))

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        if self.key_id != key_id(key):
            return False
        try:
            key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True


def head_message(tree_size: int, root_hash: bytes, signed_at: str) -> bytes:
    """What is signed: the canonical JSON of the head's size, root (hex) and time."""
    return canonical({"tree_size": tree_size, "root_hash": root_hash.hex(), "signed_at": signed_at})


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The key's name in a signed head: the SHA-256 of its raw public bytes, in hex."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()


@dataclass(frozen=True)
class RetiredKey:
    """A signing key the log no longer signs with: its public key, kept to check the heads it signed before
    `retired_at` (ISO text); its private key was destroyed when it was retired."""

    public_key: Ed25519PublicKey
    retired_at: str

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def as_json(self) -> dict[str, Any]:
        return {"algorithm": "Ed25519", "key_id": self.key_id,
                "public_key": public_key_bytes(self.public_key).hex(), "retired_at": self.retired_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetiredKey:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(str(data["public_key"])))
        datetime.fromisoformat(str(data["retired_at"]))     # refuse a retirement without a readable time
        return cls(key, str(data["retired_at"]))


def key_of(head: SignedHead, record: SealedRecord) -> Ed25519PublicKey | RetiredKey | None:
    """The key a head names by its id: the log's current key, one of its retired keys, or None (unknown)."""
    if head.key_id == key_id(record.public_key):
        return record.public_key
    return next((retired for retired in record.retired_keys if retired.key_id == head.key_id), None)


def head_fault(head: SignedHead, record: SealedRecord) -> str | None:
    """What is wrong with a head's signature, or None: signed by the current key or by a retired key before it
    was retired. A head signed with a retired key after its retirement means someone kept its private key."""
    key = key_of(head, record)
    if key is None:
        return f"is signed by a key this log does not know (key id {head.key_id})"
    public = key.public_key if isinstance(key, RetiredKey) else key
    if not head.signed_by(public):
        return f"does not bear a valid signature of its key {head.key_id}"
    if isinstance(key, RetiredKey) and (datetime.fromisoformat(head.signed_at)
                                        > datetime.fromisoformat(key.retired_at)):
        return (f"is signed with the key {head.key_id}, retired at {key.retired_at}, after its retirement: "
                "someone holds the retired private key")
    return None


class Signer:
    """Signs tree heads with the sealing key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public_key = key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, tree_size: int, root_hash: bytes, at: datetime) -> SignedHead:
        signed_at = at.isoformat()
        signature = self.key.sign(head_message(tree_size, root_hash, signed_at))
        return SignedHead(tree_size, root_hash, signed_at, self.key_id, signature)


class SealedRecord(Protocol):
    """Where the leaves and the signed heads are kept, the key that signs them and the keys that signed them
    before (retired)."""

    public_key: Ed25519PublicKey
    retired_keys: Sequence[RetiredKey]

    def size(self) -> int:
        """How many leaves there are (one more than the largest leaf index)."""
        ...

    def leaves(self, below: int) -> Iterator[Leaf]:
        """The sealed leaves with an index below `below`, in tree order."""
        ...

    def leaves_of(self, aggregate_id: str) -> list[Leaf]:
        """An aggregate's sealed leaves, by version."""
        ...

    def subtrees(self, wanted: Collection[merkle.Node]) -> Mapping[merkle.Node, bytes]:
        """The stored roots of those of the `wanted` complete subtrees that are stored (a leaf's is its
        hash)."""
        ...

    def heads(self) -> list[SignedHead]:
        """The signed heads kept in the database, smallest first."""
        ...

    def saved_heads(self) -> list[SignedHead]:
        """The signed heads saved outside the database, smallest first."""
        ...


class SealCheck:
    """The seal's part of `verify` (an `audit.LogCheck`): each stored event, in log order, must be the sealed
    leaf at its place, recomputed from the event and the leaf's salt; the leaves must run without a gap; and
    every signed head — those in the database and those saved outside it — must be signed by this log's key
    (or by a retired key, before its retirement) and have the root of the first `tree_size` leaves. Two
    heads that both hold that of one run of leaves are consistent (the smaller tree is a prefix of the
    larger): the RFC's consistency proof between them is the same fact, so a head that does not is reported
    as the point where the log stopped only growing. The stored root of every complete subtree the leaves
    make must be the one they make (proofs are built from them).

    Events recorded after the last leaf are not yet sealed: counted, not a break."""

    def __init__(self, result: Verification, record: SealedRecord) -> None:
        self.result, self.record = result, record
        # Heads first, then the leaves there are now: every head is then within them (a head is committed
        # with its leaves), and every leaf's event was stored before the log is read. A sealer running
        # meanwhile seals events that this check then counts as not yet sealed.
        self.heads, self.saved = record.heads(), record.saved_heads()
        self.sizes = {h.tree_size for h in (*self.heads, *self.saved)}
        self.roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
        self.frontier = merkle.Frontier()
        self.missing = 0
        self.closed: dict[merkle.Node, bytes] = {}      # subtrees the leaves closed, not yet checked
        self.wrong: set[merkle.Node] = set()
        self.leaves = record.leaves(below=record.size())
        self.leaf = next(self.leaves, None)

    def event(self, stored: Notification, decoded: ChainedAggregate.Event | None) -> None:
        at = stored.id
        while self.leaf is not None and self.leaf.notification_id < at:
            self._leaf_without_event(self.leaf)
        leaf = self.leaf
        if leaf is None:
            self.result.unsealed += 1
            return
        if leaf.notification_id > at:
            self._break(stored.originator_id, stored.originator_version,
                        f"recorded at position {at} of the log, between sealed events, but never sealed: "
                        "inserted afterwards")
            return
        if (leaf.originator_id, leaf.originator_version) != (str(stored.originator_id),
                                                             stored.originator_version):
            self._break(stored.originator_id, stored.originator_version,
                        f"position {at} of the log was sealed as version {leaf.originator_version} of "
                        f"{leaf.originator_id}: the event there was replaced")
        elif decoded is not None and leaf_of(decoded, leaf.salt) != leaf.hash:
            # (an event whose chain is broken was reported by the chain's check already)
            self._break(stored.originator_id, stored.originator_version,
                        f"differs from what was sealed at leaf {leaf.index}: changed after sealing")
        else:
            self.result.sealed += 1
        self._take(leaf)

    def finish(self) -> None:
        while self.leaf is not None:
            self._leaf_without_event(self.leaf)
        self._check_subtrees()
        held = self.frontier.size
        for head in self.heads:
            self._check_head(head, held, outside=False)
            self.result.head_keys[head.key_id] = self.result.head_keys.get(head.key_id, 0) + 1
        for head in self.saved:
            self._check_head(head, held, outside=True)
        if self.heads:
            self.result.tree_size = self.heads[-1].tree_size

    def _leaf_without_event(self, leaf: Leaf) -> None:
        self._break(leaf.originator_id, leaf.originator_version,
                    f"sealed at leaf {leaf.index} (position {leaf.notification_id} of the log), but no "
                    "event is stored there any more: deleted")
        self._take(leaf)

    def _take(self, leaf: Leaf) -> None:
        expected = self.frontier.size + self.missing
        if leaf.index != expected:
            self._break(LOG, expected,
                        f"sealed leaves {expected} to {leaf.index - 1} are missing: deleted from the "
                        "sealed log")
            self.missing += leaf.index - expected
        self.closed.update(self.frontier.add(leaf.hash))
        if len(self.closed) >= NODES_CHECKED_AT_ONCE:
            self._check_subtrees()
        if self.frontier.size in self.sizes:
            self.roots[self.frontier.size] = self.frontier.root()
        self.leaf = next(self.leaves, None)

    def _check_subtrees(self) -> None:
        """Compare the stored roots of the subtrees the leaves closed with theirs. Not once leaves are
        missing: every later subtree is then out of place, and the gap is the break. A wrong subtree makes
        each one above it wrong: only the lowest is reported."""
        if self.missing:
            return
        stored = self.record.subtrees(self.closed.keys())
        for (level, index), hash_ in self.closed.items():
            if stored.get((level, index)) == hash_:
                continue
            self.wrong.add((level, index))
            if {(level - 1, 2 * index), (level - 1, 2 * index + 1)} & self.wrong:
                continue
            first, last = index << level, ((index + 1) << level) - 1
            state = "is missing" if (level, index) not in stored else "is not the one they make"
            self._break(LOG, first, f"the stored root of the sealed leaves {first} to {last} {state}: the "
                                    "stored subtrees or these leaves were changed (the proofs built from "
                                    "them fail)")
        self.closed.clear()

    def _check_head(self, head: SignedHead, held: int, *, outside: bool) -> None:
        where = "saved outside the database (heads.jsonl)" if outside else "in the database"
        named = f"the head signed at {head.signed_at} for {head.tree_size} events, {where},"
        fault = head_fault(head, self.record)
        if fault is not None:
            self._break(LOG, head.tree_size, f"{named} {fault}")
        elif head.tree_size > held:
            cause = ("the database was rolled back to an older copy, or its newest events deleted" if outside
                     else "sealed events were deleted")
            self._break(LOG, head.tree_size, f"{named} is beyond the {held} sealed events there are: {cause}")
        elif self.roots[head.tree_size] != head.root_hash:
            self._break(LOG, head.tree_size,
                        f"{named} does not hold the first {head.tree_size} sealed events as they are now: "
                        "the log did not only grow since (sealed events changed, or the database restored "
                        "from another copy)")

    def _break(self, aggregate_id: UUID | str, version: int, problem: str) -> None:
        self.result.breaks.append(Break(aggregate_id, version, problem))


@dataclass(frozen=True)
class Inclusion:
    """One sealed event of an aggregate and the proof that its leaf is in the tree of the latest head."""

    version: int
    leaf_index: int
    leaf_hash: bytes
    proof: list[bytes]
    included: bool


@dataclass
class CaseSeal:
    """What the seal says of one aggregate: the latest signed head, each sealed event's inclusion under it,
    how many of its events are not yet sealed, and what does not hold."""

    head: SignedHead | None = None
    inclusions: list[Inclusion] = field(default_factory=list)
    unsealed: int = 0
    breaks: list[Break] = field(default_factory=list)


def seal_of(aggregate_id: UUID, sealed: list[Leaf], events: list[ChainedAggregate.Event],
            record: SealedRecord) -> CaseSeal:
    """Check an aggregate's stored `events` (decoded, by version) against its `sealed` leaves (read before the
    events, so that each has its event unless it was deleted), and prove each leaf's inclusion under the
    latest signed head."""
    found = CaseSeal()
    leaves = {leaf.originator_version: leaf for leaf in sealed}
    by_version = {event.originator_version: event for event in events}
    for version, leaf in sorted(leaves.items()):
        event = by_version.get(version)
        if event is None:
            found.breaks.append(Break(aggregate_id, version, f"sealed at leaf {leaf.index}, but no event is "
                                                             "stored for it any more: deleted"))
        elif leaf_of(event, leaf.salt) != leaf.hash:
            found.breaks.append(Break(aggregate_id, version,
                                      f"differs from what was sealed at leaf {leaf.index}: changed after "
                                      "sealing"))
    found.unsealed = len(by_version.keys() - leaves.keys())
    heads = record.heads()
    if not heads:
        return found
    head = found.head = heads[-1]
    fault = head_fault(head, record)
    if fault is not None:
        found.breaks.append(Break(LOG, head.tree_size, f"the latest head {fault}"))
        return found
    under = [leaf.index for leaf in leaves.values() if leaf.index < head.tree_size]
    try:
        top = merkle.stored_root(head.tree_size, record.subtrees)
        proofs = merkle.stored_inclusion_proofs(under, head.tree_size, record.subtrees)
    except merkle.MissingSubtree:
        top, proofs = None, {}
    if top != head.root_hash:
        found.breaks.append(Break(LOG, head.tree_size, "the sealed log does not hold the tree of its latest "
                                                        "signed head: sealed events were deleted or changed"))
        return found
    for version, leaf in sorted(leaves.items()):
        if leaf.index >= head.tree_size:
            found.unsealed += 1
            continue
        proof = proofs[leaf.index]
        included = merkle.verify_inclusion(leaf.index, head.tree_size, leaf.hash, proof, head.root_hash)
        found.inclusions.append(Inclusion(version, leaf.index, leaf.hash, proof, included))
        if not included:
            found.breaks.append(Break(aggregate_id, version,
                                      f"its leaf {leaf.index} is not in the tree of the latest signed head"))
    return found
