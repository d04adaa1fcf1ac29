"""Merkle tree vs a straightforward implementation of RFC 9162 §2.1 (MTH, PATH, PROOF)."""

from __future__ import annotations

import functools
import hashlib
import random

import pytest

from venom_ledger.domain import merkle
from venom_ledger.store import _leaf_run


def H(b: bytes) -> bytes:
    return hashlib.sha3_256(b).digest()


N = 300
ENTRY_HASHES = [hashlib.sha3_256(f"entry {i}".encode()).digest() for i in range(N)]


# --- reference, straight from the RFC text -------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _mth_range(start: int, end: int) -> bytes:
    # MTH(D[start:end]) over ENTRY_HASHES; memoised so the reference stays fast on 1..300.
    return ref_mth(ENTRY_HASHES[start:end], start)


def ref_mth(d: list[bytes], offset: int | None = None) -> bytes:
    n = len(d)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + d[0])
    k = _k(n)
    if offset is not None:
        return H(b"\x01" + _mth_range(offset, offset + k) + _mth_range(offset + k, offset + n))
    return H(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# PATH and PROOF work on (offset, size) views of ENTRY_HASHES so MTH can be memoised.
def mth(off: int, n: int) -> bytes:
    return _mth_range(off, off + n)


def ref_path(m: int, off: int, n: int) -> list[bytes]:
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, off, k) + [mth(off + k, n - k)]
    return ref_path(m - k, off + k, n - k) + [mth(off, k)]


def ref_subproof(m: int, off: int, n: int, b: bool) -> list[bytes]:
    if m == n:
        return [] if b else [mth(off, n)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, off, k, b) + [mth(off + k, n - k)]
    return ref_subproof(m - k, off + k, n - k, False) + [mth(off, k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    return ref_subproof(m, 0, n, True)


# --- a stored tree built through the Frontier, as the writer builds it ---------------------------

@pytest.fixture(scope="module")
def stored() -> dict[merkle.NodeKey, bytes]:
    frontier = merkle.Frontier()
    nodes: dict[merkle.NodeKey, bytes] = {}
    for h in ENTRY_HASHES:
        for level, index, value in frontier.append(h):
            nodes[(level, index)] = value
    return nodes


@pytest.fixture(scope="module")
def ref_roots() -> list[bytes]:
    return [ref_mth(ENTRY_HASHES[:n]) for n in range(N + 1)]  # unmemoised: the RFC's MTH as written


def test_root_at_every_size_matches_mth(stored, ref_roots):
    source = merkle.source_from(stored)
    frontier = merkle.Frontier()
    assert frontier.root() == ref_roots[0] == merkle.EMPTY_ROOT
    for n in range(1, N + 1):
        frontier.append(ENTRY_HASHES[n - 1])
        assert merkle.root(n, source) == ref_roots[n], n
        assert frontier.root() == ref_roots[n], n
        assert len(merkle.nodes_for_root(n)) == bin(n).count("1")


def test_frontier_reloads_from_stored_nodes(stored, ref_roots):
    source = merkle.source_from(stored)
    for n in (1, 2, 3, 7, 8, 100, 255, 256, 299):
        frontier = merkle.Frontier.load(n, source)
        for h in ENTRY_HASHES[n:]:
            frontier.append(h)
        assert frontier.root() == ref_roots[N]


def test_inclusion_every_leaf_every_size(stored, ref_roots):
    source = merkle.source_from(stored)
    for n in range(1, N + 1):
        d = ENTRY_HASHES[:n]
        for m in range(n):
            proof = merkle.inclusion_proof(m, n, source)
            assert proof == ref_path(m, 0, n), (m, n)
            keys = merkle.nodes_for_inclusion(m, n)
            assert len(keys) <= 2 * n.bit_length()
            assert merkle.inclusion_proof(m, n, merkle.source_from({k: stored[k] for k in keys})) == proof  # enough
            assert merkle.verify_inclusion(merkle.leaf_hash(d[m]), m, n, proof, ref_roots[n]), (m, n)


def test_consistency_every_pair(stored, ref_roots):
    source = merkle.source_from(stored)
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, source)
            assert proof == ref_proof(m, n), (m, n)
            assert merkle.verify_consistency(m, n, ref_roots[m], ref_roots[n], proof), (m, n)


def _corruptions(proof: list[bytes], rng: random.Random) -> list[list[bytes]]:
    out: list[list[bytes]] = []
    if proof:
        i = rng.randrange(len(proof))
        flipped = bytearray(proof[i])
        flipped[rng.randrange(32)] ^= 1 << rng.randrange(8)
        out.append(proof[:i] + [bytes(flipped)] + proof[i + 1:])  # one bit flipped
        out.append(proof[:-1])  # truncated
        if len(proof) > 1:
            out.append(list(reversed(proof)))  # reordered
    out.append(proof + [bytes(32)])  # extended
    return [p for p in out if p != proof]


def test_corrupted_inclusion_proofs_fail(stored, ref_roots):
    rng = random.Random(9162)
    source = merkle.source_from(stored)
    for n in range(1, N + 1):
        for m in {0, n - 1, rng.randrange(n)}:
            proof = merkle.inclusion_proof(m, n, source)
            leaf = merkle.leaf_hash(ENTRY_HASHES[m])
            for bad in _corruptions(proof, rng):
                assert not merkle.verify_inclusion(leaf, m, n, bad, ref_roots[n]), (m, n, "proof")
            assert not merkle.verify_inclusion(merkle.leaf_hash(b"x" * 32), m, n, proof, ref_roots[n])
            assert not merkle.verify_inclusion(leaf, m, n, proof, ref_roots[n - 1] if n > 1 else b"y" * 32)
            if n > 1:
                other = (m + 1) % n
                assert not merkle.verify_inclusion(leaf, other, n, proof, ref_roots[n]), (m, other, n)
            assert not merkle.verify_inclusion(leaf, n, n, proof, ref_roots[n])


def test_corrupted_consistency_proofs_fail(stored, ref_roots):
    rng = random.Random(6962)
    source = merkle.source_from(stored)
    for n in range(2, N + 1):
        for m in {1, n - 1, rng.randrange(1, n)}:
            proof = merkle.consistency_proof(m, n, source)
            for bad in _corruptions(proof, rng):
                assert not merkle.verify_consistency(m, n, ref_roots[m], ref_roots[n], bad), (m, n)
            assert not merkle.verify_consistency(m, n, ref_roots[m - 1] if m > 1 else b"z" * 32, ref_roots[n], proof)
            assert not merkle.verify_consistency(m, n, ref_roots[m], ref_roots[n - 1], proof)
            assert not merkle.verify_consistency(m, n, ref_roots[m], ref_roots[n], [])
    assert merkle.verify_consistency(5, 5, ref_roots[5], ref_roots[5], [])
    assert not merkle.verify_consistency(5, 5, ref_roots[5], ref_roots[6], [])
    assert not merkle.verify_consistency(0, 5, ref_roots[0], ref_roots[5], [])


def test_requests_outside_the_tree_are_refused(stored):
    source = merkle.source_from(stored)
    with pytest.raises(merkle.MerkleError):
        merkle.inclusion_proof(5, 5, source)
    with pytest.raises(merkle.MerkleError):
        merkle.consistency_proof(6, 5, source)
    with pytest.raises(merkle.MerkleError):
        merkle.source_from({})(0, 0)


@pytest.mark.parametrize("start", [0, 1, 5, 16, 31])
def test_extend_gives_the_nodes_append_gives(start):
    hashes = [hashlib.sha3_256(str(i).encode()).digest() for i in range(start + 70)]
    one, many = merkle.Frontier(), merkle.Frontier()
    for h in hashes[:start]:
        one.append(h)
        many.append(h)
    expected = [n for h in hashes[start:] for n in one.append(h)]
    assert many.extend(hashes[start:]) == expected
    assert (many.size, many.nodes, many.root()) == (one.size, one.nodes, one.root())
    again = merkle.Frontier.load(start, merkle.source_from({}) if start == 0 else
                                 merkle.source_from({(lvl, idx): h for lvl, idx, h in
                                                     _all_nodes(hashes[:start])}))
    assert again.extend(hashes[start:], min_level=4) == [n for n in expected if n[0] >= 4]


def _all_nodes(hashes):
    f = merkle.Frontier()
    return [n for h in hashes for n in f.append(h)]


@pytest.mark.parametrize(("wanted", "expected"), [
    ([], (0, 0, [])),
    ([5], (0, 16, [])),  # the aligned block holding the first index, read whole (the leaf cache keeps it)
    ([0, 1, 2, 3], (0, 16, [])),
    ([0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], (0, 16, [])),  # leaf 1's block
    ([17, 18, 19], (16, 32, [])),
    ([0, 1, 2, 3, 1000], (0, 16, [1000])),
    ([3, 10, 11, 12, 18, 19, 40], (0, 16, [18, 19, 40])),
])
def test_leaf_reads_split_into_one_range_and_single_keys(wanted, expected):
    assert _leaf_run(wanted) == expected
    start, end, others = expected
    assert set(wanted) <= {*range(start, end), *others}
    assert end - start <= 16
