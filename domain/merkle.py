"""The Merkle tree of Certificate Transparency (RFC 9162, section 2.1), as pure functions over bytes.

Leaves and nodes are hashed with SHA-256 behind distinct prefixes (0x00, 0x01), so a leaf can never pass
for a node. `root` is the tree head of n leaves; `inclusion_proof` and `consistency_proof` are the audit
paths of sections 2.1.3 and 2.1.4, checked by `verify_inclusion` and `verify_consistency` with the
algorithms the RFC gives, so that any verifier written from the RFC accepts them. `Frontier` folds leaves
in one at a time and gives the root of every prefix on the way, in memory logarithmic in their number, and
names each complete subtree it closes.

Those three take every leaf hash and are the definition. A log keeps the root of every complete subtree as
it grows (a `Node`: level l, index j, the leaves j·2^l to (j+1)·2^l - 1), and `stored_root`,
`stored_inclusion_proofs` and `stored_consistency_proof` build the same answers from O(log n) of them: a
proof's every node is the root of a run of leaves, and each run is made of at most log n complete subtrees.

Written here rather than taken from a library: pymerkle (the maintained one on PyPI) keeps its tree
through underscore-named storage hooks and serialises proofs in its own format, not RFC 9162's audit paths.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
# (level, index): the complete subtree of the leaves index·2^level to (index+1)·2^level - 1
Node = tuple[int, int]
Run = tuple[int, int]       # (start, end): the leaves start to end - 1, whose root is a node of a proof
# The stored roots of those of the asked complete subtrees that are stored (a leaf's root is its hash).
Subtrees = Callable[[Collection[Node]], Mapping[Node, bytes]]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def fold(subtrees: Sequence[bytes]) -> bytes:
    """The root of a run of leaves from the roots of the complete subtrees it is made of, largest first (the
    RFC's tree joins them from the right)."""
    result = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        result = node_hash(left, result)
    return result


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

    @classmethod
    def of(cls, size: int, subtrees: Subtrees) -> Frontier:
        """The frontier of a log of `size` leaves, from its stored complete subtrees; MissingSubtree when one
        of them is not stored."""
        frontier = cls()
        frontier.size = size
        nodes = subtrees_of((0, size))
        roots = _stored(nodes, subtrees)
        frontier.subtrees = [(1 << level, roots[level, index]) for level, index in nodes]
        return frontier

    def add(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add the next leaf's hash; the complete subtrees of more than one leaf it closes, smallest first."""
        closed = []
        size, hash_ = 1, leaf
        while self.subtrees and self.subtrees[-1][0] == size:
            left = self.subtrees.pop()[1]
            size, hash_ = size * 2, node_hash(left, hash_)
            closed.append(((size.bit_length() - 1, self.size // size), hash_))
        self.subtrees.append((size, hash_))
        self.size += 1
        return closed

    def root(self) -> bytes:
        return fold([hash_ for _, hash_ in self.subtrees]) if self.subtrees else EMPTY_ROOT


class MissingSubtree(LookupError):
    """A complete subtree a proof needs is not stored: deleted, or not yet filled in from the leaves."""


def subtrees_of(run: Run) -> list[Node]:
    """The complete subtrees a run of leaves is made of, largest first. The run's start is a multiple of the
    largest power of two not above its length, as every run of the RFC's recursion is."""
    start, end = run
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def inclusion_runs(index: int, size: int) -> list[Run]:
    """The runs of leaves whose roots are PATH(index, D[size]), in the path's order (from the leaf up)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    runs = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            runs.append((middle, end))
            end = middle
        else:
            runs.append((start, middle))
            start = middle
    return runs[::-1]


def consistency_runs(first: int, size: int) -> list[Run]:
    """The runs of leaves whose roots are PROOF(first, D[size]), in the proof's order."""
    if not 0 <= first <= size:
        raise ValueError(f"a tree of {first} is not a prefix of a tree of {size}")
    if first in (0, size):
        return []
    runs = []
    start, end, complete = 0, size, True
    while first != end:
        middle = start + _split(end - start)
        if first <= middle:
            runs.append((middle, end))
            end = middle
        else:
            runs.append((start, middle))
            start, complete = middle, False
    if not complete:
        runs.append((start, end))
    return runs[::-1]


def stored_root(size: int, subtrees: Subtrees) -> bytes:
    """MTH(D[size]) from the stored complete subtrees; MissingSubtree when one is not stored."""
    return _roots([(0, size)], subtrees)[0, size] if size else EMPTY_ROOT


def stored_inclusion_proofs(indexes: Iterable[int], size: int, subtrees: Subtrees) -> dict[int, list[bytes]]:
    """PATH(index, D[size]) of each leaf index, from the stored complete subtrees (one read for all);
    MissingSubtree when one is not stored."""
    runs = {index: inclusion_runs(index, size) for index in indexes}
    roots = _roots([run for path in runs.values() for run in path], subtrees)
    return {index: [roots[run] for run in path] for index, path in runs.items()}


def stored_consistency_proof(first: int, size: int, subtrees: Subtrees) -> list[bytes]:
    """PROOF(first, D[size]) from the stored complete subtrees; MissingSubtree when one is not stored."""
    runs = consistency_runs(first, size)
    roots = _roots(runs, subtrees)
    return [roots[run] for run in runs]


def _roots(runs: Sequence[Run], subtrees: Subtrees) -> dict[Run, bytes]:
    nodes = {run: subtrees_of(run) for run in runs}
    stored = _stored([node for made_of in nodes.values() for node in made_of], subtrees)
    return {run: fold([stored[node] for node in made_of]) for run, made_of in nodes.items()}


def _stored(nodes: Collection[Node], subtrees: Subtrees) -> Mapping[Node, bytes]:
    stored = subtrees(set(nodes))
    missing = [node for node in nodes if node not in stored]
    if missing:
        raise MissingSubtree(f"the complete subtrees {sorted(set(missing))[:5]} are not stored")
    return stored
