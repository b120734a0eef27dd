"""The Merkle tree of RFC 9162 against a naive definition: hashing level by level from the leaves, an odd
node out carried up as it is (the same tree as the RFC's split at the largest power of two)."""

from __future__ import annotations

import hashlib

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
