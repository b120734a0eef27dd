"""A public notice's proof, and its check with nothing but the proof and the log's public key.

The proof of a notice holds the signed head it was published under (the first head whose tree includes the
event that posted it), the public key, and for every event of the notice's case up to that head its sealed
leaf: its index, the leaf's content as the exact text that was hashed (the canonical JSON of
domain/seal.py: `{aggregate, version, public, commitment}`), and its inclusion path. A fact the public does
not read is there only as its commitment (`public` null), so the proof reveals nothing the notice board does
not. A verifier hashes the content's UTF-8 bytes as they are — it never re-canonicalises — so any JSON
library will do; api/pages/static/notice_proof.js does in a browser what `verify` does here, check for
check (CHECKS), and the tests hold both to the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from domain import merkle
from domain.chain import ChainedAggregate, plain
from domain.seal import Leaf, RetiredKey, SignedHead, key_id, leaf_content, public_key_bytes

FORMAT = "minqing-notice-proof/1"
# What a verifier checks, in order: the key is the one the head names (and the one pinned, if any); the
# head's signature; every leaf's inclusion under the head; the leaves are the case's versions 1..n with
# none left out; and the notice's text is in a verified leaf of the case.
CHECKS = ("key", "signature", "leaves", "complete", "notice")
HEAD_CHECKS = ("older", "newer", "consistent")
PROBLEMS = ("other-key", "wrong-key", "bad-signature", "not-proved", "empty", "missing", "notice-absent",
            "not-grown")


class ProofUnreadable(ValueError):
    """What was given is not a notice proof (missing fields, wrong types, not JSON)."""


def posted_by(events: Sequence[ChainedAggregate.Event], notice_id: str) -> ChainedAggregate.Event | None:
    """The event of a case that posted the notice `notice_id`, if any."""
    for event in events:
        if type(event).__name__ == "Publicized" and getattr(event, "notice_id", None) == notice_id:
            return event
    return None


def build(case_id: UUID, notice_id: str, notice_text: str, events: Sequence[ChainedAggregate.Event],
          leaves: Sequence[Leaf], head: SignedHead, subtrees: merkle.Subtrees,
          public_key: Ed25519PublicKey | RetiredKey) -> dict[str, Any]:
    """The proof of a notice under `head`: `events` and `leaves` are the case's (decoded events; sealed
    leaves), `subtrees` reads the log's stored complete subtrees (merkle.MissingSubtree when the log no
    longer holds those of the head's tree), `notice_text` what the board shows, `public_key` the key that
    signed `head` (the current one, or a retired one)."""
    by_version = {event.originator_version: event for event in events}
    notice = posted_by(events, notice_id)
    under = [leaf for leaf in sorted(leaves, key=lambda found: found.originator_version)
             if leaf.index < head.tree_size and leaf.originator_version in by_version]
    paths = merkle.stored_inclusion_proofs([leaf.index for leaf in under], head.tree_size, subtrees)
    proved = [{"version": leaf.originator_version, "leaf_index": leaf.index,
               "content": leaf_content(by_version[leaf.originator_version], leaf.salt).decode(),
               "path": [node.hex() for node in paths[leaf.index]]} for leaf in under]
    proof: dict[str, Any] = plain({
        "format": FORMAT, "case_id": case_id,
        "notice": {"notice_id": notice_id, "text": notice_text,
                   "version": notice.originator_version if notice else None},
        "head": head.as_json(),
        "public_key": (public_key.as_json() if isinstance(public_key, RetiredKey) else
                       {"algorithm": "Ed25519", "key_id": key_id(public_key),
                        "public_key": public_key_bytes(public_key).hex()}),
        "leaves": proved,
    })
    return proof


@dataclass(frozen=True)
class Check:
    """One check of a proof: its name (CHECKS), whether it holds and, when not, the problem's code (PROBLEMS)
    with what fills its message in. The words are the edge's (api/notice_texts.py), for the CLI and the
    page."""

    name: str
    ok: bool
    problem: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """What the check of a proof found: each check, the key id used (and when it was retired, if it was),
    and the public timeline of the case
    read from the leaves that were proved included (`{version, what, occurred_at, details}`)."""

    key_id: str
    head: SignedHead
    checks: list[Check] = field(default_factory=list)
    retired_at: str | None = None     # when the key used was retired since it signed the head
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def public_key_of(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise ProofUnreadable(f"not an Ed25519 public key: {error}") from None


def verify(proof: Any, pinned: bytes | Sequence[bytes] | None = None) -> Report:
    """Check a notice proof (parsed JSON) with the public keys `pinned` (raw bytes: the log's key and its
    retired keys, the one the head names is used), or with the key the proof carries when none is pinned
    (then only its id, compared with the one published, ties it to the log). Raises ProofUnreadable when
    `proof` is not one."""
    try:
        return _verify(proof, pinned)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, ProofUnreadable):
            raise
        raise ProofUnreadable(f"not a notice proof: {type(error).__name__} {error}") from None


def _verify(proof: dict[str, Any], pinned: bytes | Sequence[bytes] | None) -> Report:
    if proof.get("format") != FORMAT:
        raise ProofUnreadable(f"not a notice proof of format {FORMAT}")
    case_id, notice = str(proof["case_id"]), proof["notice"]
    head = SignedHead.from_json(proof["head"])
    carried = bytes.fromhex(proof["public_key"]["public_key"])
    given = [pinned] if isinstance(pinned, bytes) else list(pinned or [carried])
    trusted = [public_key_of(raw) for raw in given]
    key = next((k for k in trusted if key_id(k) == head.key_id), trusted[0])
    report = Report(key_id(key), head)
    if carried == public_key_bytes(key):
        report.retired_at = proof["public_key"].get("retired_at")
    checks = report.checks

    if carried != public_key_bytes(key):
        checks.append(Check("key", False, "other-key"))
    elif head.key_id != report.key_id:
        checks.append(Check("key", False, "wrong-key",
                            {"key_id": head.key_id}))
    else:
        checks.append(Check("key", True))
    signed = head.signed_by(key)
    checks.append(Check("signature", signed) if signed else
                  Check("signature", False, "bad-signature"))

    verified: list[tuple[int, dict[str, Any]]] = []
    failed: list[int] = []
    for leaf in proof["leaves"]:
        content = str(leaf["content"])
        path = [bytes.fromhex(node) for node in leaf["path"]]
        parsed = json.loads(content)
        hashed = merkle.leaf_hash(content.encode())
        included = signed and merkle.verify_inclusion(int(leaf["leaf_index"]), head.tree_size, hashed, path,
                                                      head.root_hash)
        if included and parsed.get("aggregate") == case_id and parsed.get("version") == leaf["version"]:
            verified.append((int(parsed["version"]), parsed))
        else:
            failed.append(int(leaf["version"]))
    if failed:
        checks.append(Check("leaves", False, "not-proved", {"versions": ", ".join(map(str, failed))}))
    else:
        checks.append(Check("leaves", True) if verified else Check("leaves", False, "empty"))

    versions = sorted(version for version, _ in verified)
    complete = not failed and versions == list(range(1, len(versions) + 1))
    checks.append(Check("complete", True) if complete else
                  Check("complete", False, "missing"))

    posted = [parsed for version, parsed in verified
              if version == notice.get("version") and (parsed.get("public") or {}).get("what") == "Publicized"
              and parsed["public"]["details"].get("notice_id") == notice["notice_id"]]
    shown = bool(posted) and posted[0]["public"]["details"].get("text") == notice["text"]
    checks.append(Check("notice", True) if shown else
                  Check("notice", False, "notice-absent"))

    report.timeline = [{"version": version, **parsed["public"]}
                       for version, parsed in sorted(verified, key=lambda pair: pair[0])
                       if parsed.get("public") is not None]
    return report


def verify_heads(older: SignedHead, newer: SignedHead, proof: Sequence[bytes],
                 keys: Sequence[Ed25519PublicKey]) -> list[Check]:
    """Check that the log only grew from one saved head to another: both signed by one of the keys (the log's
    and its retired ones; each head by the one it names), and the consistency proof (RFC 9162) from the
    server takes the older tree into the newer one."""
    checks = []
    for name, head in (("older", older), ("newer", newer)):
        checks.append(Check(name, True) if any(head.signed_by(key) for key in keys) else
                      Check(name, False, "bad-signature"))
    grew = merkle.verify_consistency(older.tree_size, newer.tree_size, older.root_hash, newer.root_hash,
                                     proof)
    checks.append(Check("consistent", True) if grew else
                  Check("consistent", False, "not-grown"))
    return checks


def raw_keys(text: str) -> list[bytes]:
    """Public keys as a resident may hold them: 64 hex digits, PEM, or the public-key endpoint's JSON (the
    log's key, then its retired keys)."""
    text = text.strip()
    if text.startswith("{"):
        found = json.loads(text)
        return [raw_key(str(found["public_key"])),
                *(raw_key(str(retired["public_key"])) for retired in found.get("retired", []))]
    return [raw_key(text)]


def raw_key(text: str) -> bytes:
    """A public key as a resident may hold it: 64 hex digits, the public-key endpoint's JSON, or PEM."""
    text = text.strip()
    if text.startswith("{"):
        text = str(json.loads(text)["public_key"])
    if text.startswith("-----BEGIN"):
        loaded = load_pem_public_key(text.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ProofUnreadable("the PEM key is not an Ed25519 key")
        return public_key_bytes(loaded)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ProofUnreadable("a public key is 64 hex digits, PEM, or the public-key endpoint's JSON"
                              ) from None
    public_key_of(raw)
    return raw
