"""The audit log service on the in-memory store: appends, heads, proofs and tamper detection."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.adapters.clock import ManualClock
from concord.audit import (
    AuditEvent,
    AuditLog,
    ConsistencyProof,
    InclusionProof,
    MemoryAuditStore,
    Signer,
    StoredEntry,
    leaf_hash,
    merkle_root,
    rebuild_subtree_cache,
    verify,
    verify_sth,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound

HEADS_AT = (10, 20, 64, 100, 256, 300)


def event(i: int) -> AuditEvent:
    return AuditEvent(
        actor=f"user-{i % 7}",
        agency="BP" if i % 2 else "CUSTOMS",
        action="release" if i % 3 else "write",
        record_kind="track",
        record_id=f"T-{i}",
        decision="full" if i % 3 else None,
        policy="mou-1" if i % 3 else None,
        details={"i": i},
    )


def build(n: int = 300, heads_at: tuple[int, ...] = HEADS_AT) -> tuple[AuditLog, MemoryAuditStore, Signer]:
    store = MemoryAuditStore()
    signer = Signer.generate()
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    log = AuditLog(store, signer, clock)
    done = 0
    for size in [*heads_at, n]:
        if size > done:
            log.append_many([event(i) for i in range(done, size)])
            done = size
        clock.advance(1)
        if size in heads_at:
            log.sign_head()
    return log, store, signer


def leaves(store: MemoryAuditStore) -> list[bytes]:
    return [store.entries[s].leaf_hash for s in sorted(store.entries)]


def test_append_assigns_sequence_numbers_and_time() -> None:
    store = MemoryAuditStore()
    clock = ManualClock(datetime(2026, 5, 1, 8, tzinfo=UTC))
    log = AuditLog(store, Signer.generate(), clock)
    first = log.append(event(0))
    more = log.append_many([event(1), event(2)])
    assert [e.seq for e in (first, *more)] == [0, 1, 2]
    assert first.at == datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert log.size() == 3
    assert log.entries(0, 3) == [first, *more]
    assert store.entries[1].leaf_hash == leaf_hash(more[0].to_json())
    assert log.append_many([]) == []


def test_a_bad_event_in_a_batch_writes_nothing() -> None:
    log, store, _ = build(5, ())
    with pytest.raises(InvalidInput):
        log.append_many([event(5), "not an event"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        log.append_many([event(5), replace(event(6), details={"blob": "x" * 70_000})])
    assert log.size() == 5


def test_a_failed_store_write_rolls_everything_back() -> None:
    log, store, _ = build(255, ())
    original_put = store.put_nodes

    def failing_put(nodes: object) -> None:  # the cache write (entry 256 completes a subtree) fails
        raise Conflict("disk full")

    store.put_nodes = failing_put  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        log.append_many([event(255), event(256)])
    store.put_nodes = original_put  # type: ignore[method-assign]
    assert log.size() == 255
    assert not store.nodes


def test_signed_head_covers_the_root_and_is_reused_until_the_log_grows() -> None:
    log, store, signer = build(30, (10,))
    head = log.sign_head()
    assert head.tree_size == 30
    assert head.root_hash == merkle_root(leaves(store)) == log.root_hash()
    assert verify_sth(head, signer.public_key)
    assert log.sign_head() == head
    assert log.get_head() == head
    assert log.get_head(10) is not None
    assert log.get_head(11) is None


def test_head_times_never_go_backwards() -> None:
    store = MemoryAuditStore()
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    log = AuditLog(store, Signer.generate(), clock)
    log.append(event(0))
    first = log.sign_head()
    log.append(event(1))
    second = log.with_store(store).sign_head()
    assert second.timestamp >= first.timestamp


def test_sign_head_refuses_a_log_shorter_than_its_head() -> None:
    log, store, _ = build(20, (20,))
    del store.entries[19]
    with pytest.raises(Conflict):
        log.sign_head()


def test_proofs_default_to_the_latest_head_and_verify() -> None:
    log, store, _ = build()
    head = log.get_head()
    assert head is not None and head.tree_size == 300
    all_leaves = leaves(store)
    for seq in range(0, 300, 7):
        proof = log.inclusion_proof(seq)
        assert proof.tree_size == 300
        assert proof.leaf_hash == all_leaves[seq]
        assert proof.verify(head.root_hash)
        assert not proof.verify(hashlib.sha256(b"wrong").digest())
        assert InclusionProof.from_dict(proof.to_dict()) == proof
    for old in HEADS_AT:
        old_head = log.get_head(old)
        assert old_head is not None
        consistency = log.consistency_proof(old)
        assert consistency.verify(old_head.root_hash, head.root_hash)
        assert not consistency.verify(head.root_hash, head.root_hash) or old == 300
        assert ConsistencyProof.from_dict(consistency.to_dict()) == consistency


def test_proofs_for_unsigned_sizes_and_bad_arguments() -> None:
    log, store, _ = build(40, ())
    with pytest.raises(NotFound):
        log.inclusion_proof(0)
    with pytest.raises(NotFound):
        log.consistency_proof(1)
    proof = log.inclusion_proof(3, tree_size=33)
    assert proof.verify(merkle_root(leaves(store)[:33]))
    for seq, size in ((33, 33), (-1, 10), (True, 10)):
        with pytest.raises(InvalidInput):
            log.inclusion_proof(seq, tree_size=size)
    with pytest.raises(NotFound):
        log.inclusion_proof(0, tree_size=41)
    with pytest.raises(InvalidInput):
        log.consistency_proof(11, 10)
    with pytest.raises(InvalidInput):
        log.root_hash(-1)


@pytest.mark.parametrize(
    "data",
    [
        {"leaf_index": 0, "tree_size": 1, "leaf_hash": "00", "path": []},
        {"leaf_index": -1, "tree_size": 1, "leaf_hash": "00" * 32, "path": []},
        {"leaf_index": 0, "tree_size": 1, "leaf_hash": "00" * 32, "path": "00" * 32},
        {"leaf_index": 0, "tree_size": 1, "leaf_hash": "00" * 32, "path": ["zz" * 32]},
        {"leaf_index": 0, "tree_size": 1, "leaf_hash": "00" * 32, "path": ["00" * 32] * 200},
        {"leaf_index": 0, "tree_size": 1, "leaf_hash": None, "path": []},
        {"leaf_index": "0", "tree_size": 1, "leaf_hash": "00" * 32, "path": []},
    ],
)
def test_hostile_proof_json_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        InclusionProof.from_dict(data)


def test_proofs_survive_a_missing_subtree_cache() -> None:
    log, store, _ = build(600, (600,))
    head = log.get_head()
    assert head is not None
    store.nodes.clear()
    assert log.root_hash() == head.root_hash
    assert log.inclusion_proof(513).verify(head.root_hash)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 90), min_size=1, max_size=8), st.data())
def test_property_batched_appends_match_the_reference_tree(batches: list[int], data: st.DataObject) -> None:
    store = MemoryAuditStore()
    signer = Signer.generate()
    log = AuditLog(store, signer, ManualClock())
    sizes = []
    for count in batches:
        start = log.size()
        log.append_many([event(i) for i in range(start, start + count)])
        sizes.append(log.sign_head().tree_size)
    hashes = leaves(store)
    assert log.root_hash() == merkle_root(hashes)
    size = data.draw(st.sampled_from(sizes))
    seq = data.draw(st.integers(0, size - 1))
    root = merkle_root(hashes[:size])
    assert log.inclusion_proof(seq, size).verify(root)
    old = data.draw(st.sampled_from(sizes))
    if old <= size:
        assert log.consistency_proof(old, size).verify(merkle_root(hashes[:old]), root)
    assert verify(store, signer.public_key).ok


# ---- tamper detection -------------------------------------------------------------------------


def test_an_untouched_log_verifies() -> None:
    _, store, signer = build()
    report = verify(store, signer.public_key, chunk_size=37)
    assert report.ok and report.problem is None
    assert report.entries_checked == 300
    assert report.heads_checked == len(HEADS_AT)
    assert report.nodes_checked == 1
    assert report.root_hash == merkle_root(leaves(store))
    assert report.unsigned_entries == 0


def _flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _rewrite(store: MemoryAuditStore, seq: int, data: bytes, *, rehash: bool) -> None:
    old = store.entries[seq]
    store.entries[seq] = StoredEntry(seq, leaf_hash(data) if rehash else old.leaf_hash, data)


def test_changed_byte_of_entry_json_is_named() -> None:
    _, store, signer = build()
    _rewrite(store, 17, _flip_byte(store.entries[17].entry_json, 40), rehash=False)
    report = verify(store, signer.public_key)
    assert not report.ok
    assert report.first_bad_entry == 17
    assert report.problem is not None and report.problem.code == "entry-leaf-hash-mismatch"


def test_changed_entry_with_recomputed_leaf_hash_is_caught_at_the_next_head() -> None:
    _, store, signer = build()
    data = store.entries[17].entry_json.replace(b'"actor":"user-3"', b'"actor":"user-4"')
    assert data != store.entries[17].entry_json
    _rewrite(store, 17, data, rehash=True)
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 20
    assert report.problem is not None and report.problem.code == "head-root-mismatch"


def test_malformed_entry_with_recomputed_leaf_hash_is_named() -> None:
    _, store, signer = build()
    _rewrite(store, 12, store.entries[12].entry_json + b" ", rehash=True)
    report = verify(store, signer.public_key)
    assert report.first_bad_entry == 12
    assert report.problem is not None and report.problem.code == "entry-malformed"


def test_swapped_entries_are_named() -> None:
    _, store, signer = build()
    a, b = store.entries[5], store.entries[9]
    store.entries[5] = StoredEntry(5, b.leaf_hash, b.entry_json)
    store.entries[9] = StoredEntry(9, a.leaf_hash, a.entry_json)
    report = verify(store, signer.public_key)
    assert report.first_bad_entry == 5
    assert report.problem is not None and report.problem.code == "entry-seq-mismatch"


def test_swapped_json_only_is_named() -> None:
    _, store, signer = build()
    a, b = store.entries[5], store.entries[9]
    store.entries[5] = StoredEntry(5, a.leaf_hash, b.entry_json)
    store.entries[9] = StoredEntry(9, b.leaf_hash, a.entry_json)
    report = verify(store, signer.public_key)
    assert report.first_bad_entry == 5
    assert report.problem is not None and report.problem.code == "entry-leaf-hash-mismatch"


def test_deleted_entry_is_named() -> None:
    _, store, signer = build()
    del store.entries[30]
    report = verify(store, signer.public_key)
    assert report.first_bad_entry == 30
    assert report.problem is not None and report.problem.code == "entry-missing"


def test_changed_leaf_hash_is_named() -> None:
    _, store, signer = build()
    old = store.entries[99]
    store.entries[99] = StoredEntry(99, _flip_byte(old.leaf_hash, 0), old.entry_json)
    report = verify(store, signer.public_key)
    assert report.first_bad_entry == 99


def test_changed_head_root_is_named() -> None:
    _, store, signer = build()
    head = store.heads[64]
    store.heads[64] = replace(head, root_hash=_flip_byte(head.root_hash, 3))
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 64
    assert report.problem is not None and report.problem.code == "head-signature-invalid"


def test_head_resigned_by_the_right_key_over_a_wrong_root_is_named() -> None:
    _, store, signer = build()
    forged = signer.sign_head(64, datetime(2026, 5, 2, tzinfo=UTC), hashlib.sha256(b"forged").digest())
    store.heads[64] = forged
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 64
    assert report.problem is not None and report.problem.code == "head-root-mismatch"


def test_head_resigned_by_another_key_is_named() -> None:
    log, store, signer = build()
    intruder = Signer.generate()
    head = store.heads[100]
    store.heads[100] = intruder.sign_head(100, head.time, head.root_hash)
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 100
    assert report.problem is not None and report.problem.code == "head-key-unknown"
    # After a key rotation both keys are trusted and the log verifies.
    assert verify(store, [signer.public_key, intruder.public_key]).ok


def test_changed_signature_or_timestamp_is_named() -> None:
    _, store, signer = build()
    head = store.heads[256]
    store.heads[256] = replace(head, signature=_flip_byte(head.signature, 10))
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 256
    assert report.problem is not None and report.problem.code == "head-signature-invalid"
    store.heads[256] = replace(head, timestamp=head.timestamp + 1)
    assert verify(store, signer.public_key).first_bad_head == 256


def test_truncated_log_is_named() -> None:
    _, store, signer = build()
    for seq in range(250, 300):
        del store.entries[seq]
    report = verify(store, signer.public_key)
    assert report.problem is not None and report.problem.code == "log-truncated"
    assert report.first_bad_head == 256
    assert report.problem.seq == 250


def test_truncation_with_its_heads_is_caught_by_a_head_the_auditor_kept() -> None:
    _, store, signer = build()
    kept = store.heads[300]
    for seq in range(250, 300):
        del store.entries[seq]
    del store.heads[256], store.heads[300]
    assert verify(store, signer.public_key).ok
    report = verify(store, signer.public_key, known_heads=[kept])
    assert report.first_bad_head == 300


def test_tampered_subtree_cache_is_named() -> None:
    _, store, signer = build()
    store.nodes[(8, 0)] = b"\x00" * 32
    report = verify(store, signer.public_key)
    assert report.problem is not None and report.problem.code == "node-mismatch"
    assert (report.problem.level, report.problem.index) == (8, 0)


def test_the_first_of_several_problems_is_named() -> None:
    _, store, signer = build()
    _rewrite(store, 40, _flip_byte(store.entries[40].entry_json, 30), rehash=False)
    _rewrite(store, 17, _flip_byte(store.entries[17].entry_json, 30), rehash=False)
    head = store.heads[10]
    store.heads[10] = replace(head, signature=_flip_byte(head.signature, 0))
    report = verify(store, signer.public_key)
    assert report.first_bad_head == 10
    assert report.first_bad_entry is None
    assert report.to_dict()["problem"]["code"] == "head-signature-invalid"


def test_verify_reports_progress_and_refuses_bad_chunks() -> None:
    _, store, signer = build()
    seen: list[tuple[int, int]] = []
    verify(store, signer.public_key, chunk_size=100, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(100, 300), (200, 300), (300, 300)]
    with pytest.raises(InvalidInput):
        verify(store, signer.public_key, chunk_size=0)


def test_empty_log_with_a_head_verifies() -> None:
    store = MemoryAuditStore()
    signer = Signer.generate()
    log = AuditLog(store, signer, ManualClock())
    head = log.sign_head()
    assert head.tree_size == 0
    report = verify(store, signer.public_key)
    assert report.ok and report.heads_checked == 1


def test_heads_after_every_entry_verify_in_small_windows() -> None:
    store = MemoryAuditStore()
    signer = Signer.generate()
    clock = ManualClock()
    log = AuditLog(store, signer, clock)
    for i in range(50):
        log.append(event(i))
        clock.advance(0.5)
        log.sign_head()
    for chunk in (1, 3, 7, 50, 1000):
        report = verify(store, signer.public_key, chunk_size=chunk)
        assert report.ok and report.heads_checked == 50, chunk
    del store.entries[47], store.entries[48]
    assert verify(store, signer.public_key, chunk_size=7).first_bad_entry == 47


_BUILT: list[tuple[AuditLog, MemoryAuditStore, Signer]] = []


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 299), st.integers(0, 10_000), st.integers(0, 7), st.booleans())
def test_property_any_flipped_bit_is_caught(seq: int, position: int, bit: int, rehash: bool) -> None:
    if not _BUILT:
        _BUILT.append(build())
    _, template, signer = _BUILT[0]
    store = MemoryAuditStore()
    store.entries, store.heads, store.nodes = (
        dict(template.entries),
        dict(template.heads),
        dict(template.nodes),
    )
    original = store.entries[seq]
    data = bytearray(original.entry_json)
    data[position % len(data)] ^= 1 << bit
    changed = bytes(data)
    store.entries[seq] = StoredEntry(seq, leaf_hash(changed) if rehash else original.leaf_hash, changed)
    report = verify(store, signer.public_key, chunk_size=64)
    assert not report.ok
    assert report.problem is not None
    if not rehash:
        assert report.first_bad_entry == seq
    else:
        # Caught at the entry itself if the JSON is no longer a valid entry, otherwise by the first
        # signed head or cached subtree that covers it.
        next_head = min(size for size in HEADS_AT if size > seq)
        assert (
            report.first_bad_entry == seq
            or (report.first_bad_head or 0) == next_head
            or (report.problem.code == "node-mismatch" and seq < 256)
        )


def test_rebuild_subtree_cache_restores_missing_hashes_and_refuses_wrong_ones() -> None:
    log, store, signer = build(1100, (1100,))
    original = dict(store.nodes)
    assert len(original) == 4  # four complete 256-leaf subtrees
    store.nodes.clear()
    assert rebuild_subtree_cache(store, chunk_size=300) == 4
    assert store.nodes == original
    assert rebuild_subtree_cache(store) == 0
    store.nodes[(8, 2)] = b"\x00" * 32
    with pytest.raises(Conflict):
        rebuild_subtree_cache(store)
    with pytest.raises(InvalidInput):
        rebuild_subtree_cache(store, chunk_size=0)
