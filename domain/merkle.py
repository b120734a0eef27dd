"""The Merkle tree of Certificate Transparency (RFC 9162, section 2.1), as pure functions over bytes.

Leaves and nodes are hashed with SHA-256 behind distinct prefixes (0x00, 0x01), so a leaf can never pass
for a node. `root` is the tree head of n leaves; `inclusion_proof` and `consistency_proof` are the audit
paths of sections 2.1.3 and 2.1.4, checked by `verify_inclusion` and `verify_consistency` with the
algorithms the RFC gives, so that any verifier written from the RFC accepts them. `Frontier` folds leaves
in one at a time and gives the root of every prefix on the way, in memory logarithmic in their number.

Written here rather than taken from a library: pymerkle (the maintained one on PyPI) keeps its tree
through underscore-named storage hooks and serialises proofs in its own format, not RFC 9162's audit paths.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes `leaves`."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index` in the tree of the leaf hashes `leaves`."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes],
                     root_hash: bytes) -> bool:
    """Whether `leaf` (a leaf hash) is leaf `index` of the tree of `tree_size` leaves with `root_hash`."""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first `first` leaf hashes is a prefix of the tree of `leaves`."""
    if not 0 <= first <= len(leaves):
        raise ValueError(f"a tree of {first} is not a prefix of a tree of {len(leaves)}")
    if first in (0, len(leaves)):
        return []
    return _subproof(first, leaves, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), root(leaves[:k])]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether the tree of `first` leaves with `first_root` is a prefix of the tree of `second` leaves with
    `second_root`, as `proof` shows. An empty tree is a prefix of every tree; a tree is one of itself."""
    if not 0 <= first <= second:
        return False
    if first == 0:
        return not proof
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:        # a power of two: the first tree is a whole subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


class Frontier:
    """The roots of the perfect subtrees that n leaves make, largest first: enough to add leaves one by one
    and to give the root of the n seen so far (the RFC's tree is those subtrees joined from the right)."""

    def __init__(self) -> None:
        self.size = 0
        self.subtrees: list[tuple[int, bytes]] = []     # (leaves, root), sizes strictly decreasing

    def copy(self) -> Frontier:
        copied = Frontier()
        copied.size, copied.subtrees = self.size, list(self.subtrees)
        return copied

    def add(self, leaf: bytes) -> None:
        size, hash_ = 1, leaf
        while self.subtrees and self.subtrees[-1][0] == size:
            left = self.subtrees.pop()[1]
            size, hash_ = size * 2, node_hash(left, hash_)
        self.subtrees.append((size, hash_))
        self.size += 1

    def root(self) -> bytes:
        if not self.subtrees:
            return EMPTY_ROOT
        result = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            result = node_hash(left, result)
        return result
