"""The Merkle tree of RFC 9162 against a naive definition: hashing level by level from the leaves, an odd
node out carried up as it is (the same tree as the RFC's split at the largest power of two); and the proofs
built from stored complete subtrees against the ones built from every leaf."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import merkle

SIZES = range(0, 71)


def leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def naive_root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = hashes
    while len(level) > 1:
        paired = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def test_leaves_and_nodes_are_hashed_with_their_own_prefixes() -> None:
    assert merkle.leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert merkle.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


def test_the_root_of_every_size_is_the_naive_one_and_the_frontier_gives_each_prefix_root() -> None:
    hashes = leaves(max(SIZES))
    frontier = merkle.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for n in SIZES:
        assert merkle.root(hashes[:n]) == naive_root(hashes[:n])
        if n:
            frontier.add(hashes[n - 1])
        assert frontier.root() == naive_root(hashes[:n])


def test_every_leaf_of_every_size_has_an_inclusion_proof_that_verifies_and_no_other_leaf_passes() -> None:
    for n in range(1, max(SIZES) + 1):
        hashes = leaves(n)
        top = naive_root(hashes)
        for index in range(n):
            proof = merkle.inclusion_proof(index, hashes)
            assert merkle.verify_inclusion(index, n, hashes[index], proof, top)
            assert not merkle.verify_inclusion(index, n, merkle.leaf_hash(b"other"), proof, top)
            if n > 1:
                assert not merkle.verify_inclusion((index + 1) % n, n, hashes[index], proof, top)


def test_every_pair_of_sizes_has_a_consistency_proof_that_verifies() -> None:
    hashes = leaves(max(SIZES))
    for second in SIZES:
        second_root = naive_root(hashes[:second])
        for first in range(second + 1):
            proof = merkle.consistency_proof(first, hashes[:second])
            assert merkle.verify_consistency(first, second, naive_root(hashes[:first]), second_root, proof)


def test_a_log_that_was_rewritten_fails_the_consistency_proof_against_its_old_root() -> None:
    hashes = leaves(max(SIZES))
    rewritten = leaves(max(SIZES), salt=b"forged")
    for second in range(2, max(SIZES) + 1):
        for first in range(1, second):
            proof = merkle.consistency_proof(first, rewritten[:second])
            assert not merkle.verify_consistency(first, second, naive_root(hashes[:first]),
                                                 naive_root(rewritten[:second]), proof)


@given(data=st.lists(st.binary(max_size=40), min_size=1, max_size=70), pick=st.data())
def test_a_changed_leaf_or_proof_node_is_refused(data: list[bytes], pick: st.DataObject) -> None:
    hashes = [merkle.leaf_hash(d) for d in data]
    n = len(hashes)
    index = pick.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(index, hashes)
    top = naive_root(hashes)
    assert merkle.verify_inclusion(index, n, hashes[index], proof, top)
    if proof:
        at = pick.draw(st.integers(0, len(proof) - 1))
        bent = [*proof[:at], merkle.leaf_hash(proof[at]), *proof[at + 1:]]
        assert not merkle.verify_inclusion(index, n, hashes[index], bent, top)
        assert not merkle.verify_inclusion(index, n, hashes[index], proof[:-1], top)
    first = pick.draw(st.integers(1, n))
    consistency = merkle.consistency_proof(first, hashes)
    assert merkle.verify_consistency(first, n, naive_root(hashes[:first]), top, consistency)
    if consistency:
        at = pick.draw(st.integers(0, len(consistency) - 1))
        bent = [*consistency[:at], merkle.leaf_hash(consistency[at]), *consistency[at + 1:]]
        assert not merkle.verify_consistency(first, n, naive_root(hashes[:first]), top, bent)


def test_sizes_outside_the_tree_are_refused() -> None:
    hashes = leaves(4)
    assert not merkle.verify_inclusion(4, 4, hashes[0], [], merkle.root(hashes))
    assert not merkle.verify_consistency(5, 4, b"", merkle.root(hashes), [])
    assert not merkle.verify_consistency(2, 4, merkle.root(hashes[:2]), merkle.root(hashes), [])


class StoredLog:
    """A log's complete subtrees as a sealer stores them: each leaf's hash, each node its frontier closes."""

    def __init__(self) -> None:
        self.frontier = merkle.Frontier()
        self.nodes: dict[merkle.Node, bytes] = {}
        self.asked: list[int] = []

    def add(self, leaf: bytes) -> None:
        self.nodes[0, self.frontier.size] = leaf
        self.nodes.update(self.frontier.add(leaf))

    def subtrees(self, wanted: Collection[merkle.Node]) -> Mapping[merkle.Node, bytes]:
        self.asked.append(len(wanted))
        return {node: self.nodes[node] for node in wanted if node in self.nodes}


def test_every_complete_subtree_the_frontier_closes_has_the_naive_root_of_its_leaves() -> None:
    hashes = leaves(max(SIZES))
    log = StoredLog()
    for leaf in hashes:
        log.add(leaf)
    assert len(log.nodes) == 2 * len(hashes) - bin(len(hashes)).count("1")     # every complete subtree, once
    for (level, index), hash_ in log.nodes.items():
        assert hash_ == naive_root(hashes[index << level:(index + 1) << level])


def test_proofs_from_the_stored_subtrees_of_every_size_are_the_ones_from_every_leaf() -> None:
    hashes = leaves(max(SIZES))
    log = StoredLog()
    for n in SIZES:
        if n:
            log.add(hashes[n - 1])
        # only what a log of n leaves has stored: a proof needing a later subtree fails on it
        assert merkle.stored_root(n, log.subtrees) == naive_root(hashes[:n])
        assert merkle.Frontier.of(n, log.subtrees).root() == naive_root(hashes[:n])
        paths = merkle.stored_inclusion_proofs(range(n), n, log.subtrees)
        assert paths == {index: merkle.inclusion_proof(index, hashes[:n]) for index in range(n)}
        for first in range(n + 1):
            assert merkle.stored_consistency_proof(first, n, log.subtrees) == merkle.consistency_proof(
                first, hashes[:n])


def test_a_proof_reads_a_logarithmic_number_of_stored_subtrees_in_one_read() -> None:
    log = StoredLog()
    for leaf in leaves(5000):
        log.add(leaf)
    for index in (0, 2047, 4095, 4999):
        log.asked.clear()
        merkle.stored_inclusion_proofs([index], 5000, log.subtrees)
        assert len(log.asked) == 1 and log.asked[0] <= 2 * 13
    log.asked.clear()
    merkle.stored_consistency_proof(1234, 5000, log.subtrees)
    assert len(log.asked) == 1 and log.asked[0] <= 2 * 13


def test_a_proof_that_needs_a_subtree_not_stored_says_so() -> None:
    log = StoredLog()
    for leaf in leaves(8):
        log.add(leaf)
    del log.nodes[2, 1]
    with pytest.raises(merkle.MissingSubtree):
        merkle.stored_inclusion_proofs([0], 8, log.subtrees)
    with pytest.raises(merkle.MissingSubtree):
        merkle.stored_consistency_proof(4, 8, log.subtrees)
    assert merkle.stored_consistency_proof(6, 8, log.subtrees) == merkle.consistency_proof(6, leaves(8))
