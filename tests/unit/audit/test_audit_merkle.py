"""The Merkle tree against RFC 9162's definitions, hand-computed trees and published test vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_path,
    inclusion_path,
    largest_power_of_two_below,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_path,
    verify_consistency,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# The reference below is RFC 9162 section 2.1 written as literally as possible (recursive, on lists),
# independent of the implementation under test.
def ref_mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + entries[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, entries[:k]) + [ref_mth(entries[k:])]
    return ref_path(m - k, entries[k:]) + [ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, entries[:k], b) + [ref_mth(entries[k:])]
    return ref_subproof(m - k, entries[k:], False) + [ref_mth(entries[:k])]


def entries_for(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def range_hash_over(entries: list[bytes]) -> Callable[[int, int], bytes]:
    return lambda start, stop: ref_mth(entries[start:stop])


# Test vectors published with transparency-dev/merkle (proof/verify_test.go), the Go library behind
# Certificate Transparency: leaves, the roots of their prefixes, and known proofs.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# (leaf index, tree size, path)
VECTOR_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, path)
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def test_hashes_use_the_rfc_domain_separation_prefixes() -> None:
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_hand_computed_trees_of_one_to_five_leaves() -> None:
    a, b, c, d, e = (leaf_hash(x) for x in (b"a", b"b", b"c", b"d", b"e"))
    assert merkle_root([]) == sha(b"")
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == sha(b"\x01" + a + b)
    # Three leaves: the left subtree is the largest power of two below 3, i.e. two leaves.
    ab = sha(b"\x01" + a + b)
    assert merkle_root([a, b, c]) == sha(b"\x01" + ab + c)
    cd = sha(b"\x01" + c + d)
    abcd = sha(b"\x01" + ab + cd)
    assert merkle_root([a, b, c, d]) == abcd
    assert merkle_root([a, b, c, d, e]) == sha(b"\x01" + abcd + e)
    # The hand-made inclusion path of c in five leaves: d, then ab, then e.
    path = inclusion_path(2, 5, lambda s, t: merkle_root([a, b, c, d, e][s:t]))
    assert path == [d, ab, e]
    assert verify_inclusion(c, 2, 5, path, merkle_root([a, b, c, d, e]))


def test_published_roots() -> None:
    hashes = [leaf_hash(x) for x in VECTOR_LEAVES]
    for size, expected in enumerate(VECTOR_ROOTS, start=1):
        assert merkle_root(hashes[:size]) == expected


@pytest.mark.parametrize(("index", "size", "path"), VECTOR_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in path]
    generated = inclusion_path(
        index, size, lambda s, t: merkle_root([leaf_hash(x) for x in VECTOR_LEAVES[s:t]])
    )
    assert generated == expected
    leaf = leaf_hash(VECTOR_LEAVES[index])
    assert verify_inclusion(leaf, index, size, expected, VECTOR_ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "path"), VECTOR_CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in path]
    generated = consistency_path(
        old, new, lambda s, t: merkle_root([leaf_hash(x) for x in VECTOR_LEAVES[s:t]])
    )
    assert generated == expected
    assert verify_consistency(old, new, VECTOR_ROOTS[old - 1], VECTOR_ROOTS[new - 1], expected)


def test_consistency_edge_cases_follow_the_published_expectations() -> None:
    some, other = b"\x11" * 32, b"\x22" * 32
    assert verify_consistency(0, 0, some, some, [])
    assert not verify_consistency(0, 0, some, other, [])
    assert verify_consistency(0, 1, some, other, [])
    assert verify_consistency(1, 1, other, other, [])
    assert not verify_consistency(1, 1, some, other, [])
    assert not verify_consistency(1, 0, some, other, [])
    assert not verify_consistency(2, 1, some, other, [])
    assert not verify_consistency(1, 2, some, other, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_inclusion_edge_cases() -> None:
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], leaf)
    for index, size in ((0, 0), (1, 0), (2, 1)):
        assert not verify_inclusion(leaf, index, size, [], EMPTY_ROOT)
    assert root_from_inclusion_path(leaf, 0, 1, [b"short"]) is None
    with pytest.raises(ValueError):
        inclusion_path(3, 3, lambda s, t: EMPTY_ROOT)
    with pytest.raises(ValueError):
        consistency_path(4, 3, lambda s, t: EMPTY_ROOT)
    with pytest.raises(ValueError):
        largest_power_of_two_below(1)


def _corrupted_inclusion(
    index: int, size: int, path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[int, int, bytes, bytes, list[bytes]]]:
    """The corruption probes of the published Go test suite, written out again."""
    probes = [
        (index - 1, size, root, leaf, path),
        (index + 1, size, root, leaf, path),
        (index ^ 2, size, root, leaf, path),
        (index, size * 2, root, leaf, path),
        (index, size // 2, root, leaf, path),
        (index, size, root, b"WrongLeaf", path),
        (index, size, EMPTY_ROOT, leaf, path),
        (index, size, b"\xab" * 32, leaf, path),
        (index, size, root, leaf, [*path, b""]),
        (index, size, root, leaf, [*path, root]),
        (index, size, root, leaf, [b"", *path]),
        (index, size, root, leaf, [root, *path]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, root, leaf, flipped))
    if path:
        probes.append((index, size, root, leaf, path[:-1]))
    if len(path) > 1:
        probes.append((index, size, root, leaf, [path[0], b"\xab" * 32, *path[1:]]))
    return probes


def _corrupted_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> list[tuple[int, int, bytes, bytes, list[bytes]]]:
    probes = [
        (old - 1, new, old_root, new_root, path),
        (old + 1, new, old_root, new_root, path),
        (old ^ 2, new, old_root, new_root, path),
        (old, new * 2, old_root, new_root, path),
        (old, new // 2, old_root, new_root, path),
        (old, new, b"WrongRoot", new_root, path),
        (old, new, old_root, b"WrongRoot", path),
        (old, new, new_root, old_root, path),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*path, b""]),
        (old, new, old_root, new_root, [*path, old_root]),
        (old, new, old_root, new_root, [*path, new_root]),
        (old, new, old_root, new_root, [b"", *path]),
        (old, new, old_root, new_root, [old_root, *path]),
        (old, new, old_root, new_root, [new_root, *path]),
        (old, new, old_root, new_root, [path[0], *path]),
        (old, new, old_root, new_root, path[:-1]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, old_root, new_root, flipped))
    return probes


def test_every_leaf_of_every_size_up_to_64_proves_and_corruptions_fail() -> None:
    all_entries = entries_for(64)
    for size in range(1, 65):
        entries = all_entries[:size]
        root = ref_mth(entries)
        source = range_hash_over(entries)
        for index in range(size):
            path = inclusion_path(index, size, source)
            assert path == ref_path(index, entries)
            leaf = leaf_hash(entries[index])
            assert verify_inclusion(leaf, index, size, path, root)
            assert not verify_inclusion(leaf, index, size, path, ref_mth(entries[:-1] + [b"x"]))
            for probe in _corrupted_inclusion(index, size, path, root, leaf):
                p_index, p_size, p_root, p_leaf, p_path = probe
                assert not verify_inclusion(p_leaf, p_index, p_size, p_path, p_root), (index, size, probe)


def test_every_pair_of_sizes_up_to_64_is_consistent_and_corruptions_fail() -> None:
    all_entries = entries_for(64)
    roots = [ref_mth(all_entries[:n]) for n in range(65)]
    for new in range(1, 65):
        source = range_hash_over(all_entries[:new])
        for old in range(1, new + 1):
            path = consistency_path(old, new, source)
            expected = [] if old == new else ref_subproof(old, all_entries[:new], True)
            assert path == expected
            assert verify_consistency(old, new, roots[old], roots[new], path)
            if old < new:
                # A different old tree of the same size is not a prefix.
                forged = ref_mth(all_entries[: old - 1] + [b"forged"])
                assert not verify_consistency(old, new, forged, roots[new], path)
                for probe in _corrupted_consistency(old, new, roots[old], roots[new], path):
                    p_old, p_new, p_old_root, p_new_root, p_path = probe
                    assert not verify_consistency(p_old, p_new, p_old_root, p_new_root, p_path), (
                        old,
                        new,
                        probe,
                    )


def test_frontier_reports_completed_subtrees() -> None:
    seen: list[tuple[int, int]] = []
    frontier = MerkleFrontier(on_subtree=lambda level, index, value: seen.append((level, index)))
    entries = entries_for(8)
    for entry in entries:
        frontier.append(leaf_hash(entry))
    assert frontier.root() == ref_mth(entries)
    assert sorted(seen) == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (3, 0)]
    with pytest.raises(ValueError):
        MerkleFrontier(3, [EMPTY_ROOT])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=300), st.data())
def test_property_proofs_match_the_rfc_reference(entries: list[bytes], data: st.DataObject) -> None:
    size = len(entries)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    source = range_hash_over(entries)
    root = ref_mth(entries)
    assert merkle_root([leaf_hash(e) for e in entries]) == root
    path = inclusion_path(index, size, source)
    assert verify_inclusion(leaf_hash(entries[index]), index, size, path, root)
    proof = consistency_path(old, size, source)
    assert verify_consistency(old, size, ref_mth(entries[:old]), root, proof)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 200),
    st.data(),
    st.lists(st.binary(min_size=32, max_size=32), max_size=10),
)
def test_property_random_paths_do_not_verify(size: int, data: st.DataObject, junk: list[bytes]) -> None:
    entries = entries_for(size)
    index = data.draw(st.integers(0, size - 1))
    real = inclusion_path(index, size, range_hash_over(entries))
    if junk != real:
        assert not verify_inclusion(leaf_hash(entries[index]), index, size, junk, ref_mth(entries))
