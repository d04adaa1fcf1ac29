"""The Merkle tree over entry hashes, RFC 9162 §2.1 with SHA3-256 (F-LEDGER-5).

* leaf hash of entry ``i``: ``H(0x00 ‖ bytes.fromhex(entry_hash_i))``;
* interior node: ``H(0x01 ‖ left ‖ right)``; a tree of ``n`` leaves splits at ``k``, the largest
  power of two smaller than ``n`` (``MTH(D[0:n]) = H(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))``);
* the root of the empty tree is ``H("")``.

Storage model: every *complete, aligned* subtree is a node ``(level, index)`` covering leaves
``[index·2^level, (index+1)·2^level)``; level 0 holds the leaf hashes. Every subtree the RFC's
algorithms touch is either such a node or splits into O(log n) of them, so a root, an inclusion
proof or a consistency proof at any tree size needs O(log n) stored nodes. Functions here take a
:data:`NodeSource` (``(level, index) -> hash``) so they stay pure: the store first asks which
nodes are needed (``nodes_for_*``), fetches them in one query, then calls the proof function.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) needs only public data:
the leaf or the two roots, the sizes and the proof — RFC 9162 §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
NodeKey = tuple[int, int]  # (level, index)
NodeSource = Callable[[int, int], bytes]


class MerkleError(ValueError):
    """A request outside the tree (e.g. a leaf index ≥ tree size)."""


def _h(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


EMPTY_ROOT = _h(b"")


def leaf_hash(entry_hash: bytes) -> bytes:
    return _h(b"\x00" + entry_hash)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def complete_subtree_hash(entry_hashes: Sequence[bytes]) -> bytes:
    """MTH of a complete subtree (a power-of-two number of leaves), from its entry hashes."""
    size = len(entry_hashes)
    if size == 0 or size & (size - 1):
        raise MerkleError(f"a complete subtree has a power-of-two number of leaves, got {size}")
    level = [leaf_hash(h) for h in entry_hashes]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _subtree_hash(start: int, end: int, source: NodeSource) -> bytes:
    """MTH(D[start:end]) from stored complete subtrees."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return source(level, start >> level)
    k = _largest_power_of_two_below(size)
    return node_hash(_subtree_hash(start, start + k, source), _subtree_hash(start + k, end, source))


def root(tree_size: int, source: NodeSource) -> bytes:
    """MTH of the first ``tree_size`` leaves."""
    if tree_size < 0:
        raise MerkleError("tree size must be >= 0")
    if tree_size == 0:
        return EMPTY_ROOT
    return _subtree_hash(0, tree_size, source)


def _path_ranges(m: int, tree_size: int) -> list[tuple[int, int]]:
    """The subtrees ``[start, end)`` whose MTHs form PATH(m, D[0:tree_size]) of RFC 9162 §2.1.3.1,
    in the proof's order (the leaf's sibling first). The recursion PATH(m, D[n]) = PATH(m, D[0:k]) :
    MTH(D[k:n]) for m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]), unrolled top-down."""
    ranges = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
    ranges.reverse()
    return ranges


def _subtree_keys(start: int, end: int, keys: list[NodeKey]) -> None:
    """Append to ``keys`` the stored nodes :func:`_subtree_hash` reads for MTH(D[start:end])."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        keys.append((level, start >> level))
        return
    k = _largest_power_of_two_below(size)
    _subtree_keys(start, start + k, keys)
    _subtree_keys(start + k, end, keys)


def inclusion_proof(leaf_index: int, tree_size: int, source: NodeSource) -> list[bytes]:
    """The audit path of leaf ``leaf_index`` in the tree of ``tree_size`` leaves."""
    if not 0 <= leaf_index < tree_size:
        raise MerkleError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    return [_subtree_hash(start, end, source) for start, end in _path_ranges(leaf_index, tree_size)]


def _subproof(m: int, start: int, end: int, complete: bool, source: NodeSource) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1."""
    size = end - start
    if m == size:
        return [] if complete else [_subtree_hash(start, end, source)]
    k = _largest_power_of_two_below(size)
    if m <= k:
        return [*_subproof(m, start, start + k, complete, source), _subtree_hash(start + k, end, source)]
    return [*_subproof(m - k, start + k, end, False, source), _subtree_hash(start, start + k, source)]


def consistency_proof(first_size: int, second_size: int, source: NodeSource) -> list[bytes]:
    """The proof that the tree of ``first_size`` leaves is a prefix of the one of ``second_size``."""
    if not 0 < first_size <= second_size:
        raise MerkleError(f"a consistency proof needs 0 < first ({first_size}) <= second ({second_size})")
    return _subproof(first_size, 0, second_size, True, source)


def _recorded(run: Callable[[NodeSource], object]) -> list[NodeKey]:
    keys: list[NodeKey] = []

    def record(level: int, index: int) -> bytes:
        keys.append((level, index))
        return bytes(HASH_SIZE)

    run(record)
    return list(dict.fromkeys(keys))


def nodes_for_root(tree_size: int) -> list[NodeKey]:
    """The stored nodes :func:`root` reads (the binary decomposition of ``tree_size``)."""
    return _recorded(lambda s: root(tree_size, s))


def nodes_for_inclusion(leaf_index: int, tree_size: int) -> list[NodeKey]:
    if not 0 <= leaf_index < tree_size:
        raise MerkleError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    keys: list[NodeKey] = []
    for start, end in _path_ranges(leaf_index, tree_size):
        _subtree_keys(start, end, keys)
    return keys


def nodes_for_consistency(first_size: int, second_size: int) -> list[NodeKey]:
    return _recorded(lambda s: consistency_proof(first_size, second_size, s))


def source_from(nodes: dict[NodeKey, bytes]) -> NodeSource:
    def lookup(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise MerkleError(f"Merkle node (level {level}, index {index}) is not stored") from None

    return lookup


# --- verification with public data only ---------------------------------------------------------


def verify_inclusion(leaf: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show that ``leaf`` (a leaf hash) is at ``leaf_index``?"""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first_size: int, second_size: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``first_size`` (root ``first_root``) a prefix of the other?"""
    if not 0 < first_size <= second_size:
        return False
    if first_size == second_size:
        return len(proof) == 0 and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- appending ----------------------------------------------------------------------------------


@dataclass
class Frontier:
    """The right edge of the tree: the complete subtrees of the binary decomposition of ``size``.

    Appending a leaf returns every node that became complete (the leaf itself at level 0, then
    each parent it completes); the writer stores them with the entries, in the same transaction.
    """

    size: int = 0
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)  # (level, index, hash), left to right

    @staticmethod
    def keys_for_size(size: int) -> list[NodeKey]:
        keys: list[NodeKey] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                keys.append((level, start >> level))
                start += 1 << level
        return keys

    @classmethod
    def load(cls, size: int, source: NodeSource) -> Frontier:
        return cls(size, [(lvl, idx, source(lvl, idx)) for lvl, idx in cls.keys_for_size(size)])

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.nodes))

    def append(self, entry_hash: bytes) -> list[tuple[int, int, bytes]]:
        new = [(0, self.size, leaf_hash(entry_hash))]
        self.nodes.append(new[0])
        while len(self.nodes) >= 2 and self.nodes[-1][0] == self.nodes[-2][0]:
            right = self.nodes.pop()
            left = self.nodes.pop()
            parent = (left[0] + 1, left[1] >> 1, node_hash(left[2], right[2]))
            self.nodes.append(parent)
            new.append(parent)
        self.size += 1
        return new

    def extend(self, entry_hashes: Iterable[bytes], min_level: int = 0) -> list[tuple[int, int, bytes]]:
        """Append many leaves (the writer's hot loop); return the nodes of level ≥ ``min_level`` that
        became complete, in the order :meth:`append` would give them (a test holds them equal).

        The leaf at index ``i`` completes its parent when ``i`` is odd (its left sibling is the last
        frontier node), that parent completes the next when its own index is odd, and so on."""
        sha3 = hashlib.sha3_256
        nodes = self.nodes
        size = self.size
        out: list[tuple[int, int, bytes]] = []
        for entry_hash in entry_hashes:
            level, idx = 0, size
            h = sha3(b"\x00" + entry_hash).digest()
            if min_level <= 0:
                out.append((0, idx, h))
            while idx & 1:
                h = sha3(b"\x01" + nodes.pop()[2] + h).digest()
                level += 1
                idx >>= 1
                if level >= min_level:
                    out.append((level, idx, h))
            nodes.append((level, idx, h))
            size += 1
        self.size = size
        return out

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1][2]
        for _, _, h in reversed(self.nodes[:-1]):
            acc = node_hash(h, acc)
        return acc
