"""Benchmark of the audit log on a SQLite file (WAL): durable appends, full verification and proofs.

Each figure is measured next to a baseline in the same run:

* appends: batched ``append_many`` (one transaction and one signed head per batch, ``synchronous=FULL``
  so every commit is on disk) against one ``append`` per transaction;
* verification of the whole log (default one million entries, a head every 10,000) with the streaming
  frontier, against recomputing the whole tree from the leaves at each head (run over the first heads
  only and projected to all of them, since the naive cost grows with the square of the log);
* proofs from cached subtree hashes against building the same proof from every leaf hash.

Run: ``.venv/bin/python bench/audit.py`` (``--entries 100000`` for a quick run). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from concord.adapters.audit_sql import AuditTables, SqlAuditStore, define_audit_tables
from concord.adapters.clock import ManualClock
from concord.audit import (
    AuditEvent,
    AuditLog,
    Signer,
    inclusion_path,
    leaf_hash,
    merkle_root,
    verify,
    verify_inclusion,
)


def make_engine(path: Path, synchronous: str) -> Engine:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    sa_event.listen(engine, "connect", pragmas)
    return engine


def fresh(path: Path, synchronous: str) -> tuple[Engine, AuditTables, SqlAuditStore]:
    path.unlink(missing_ok=True)
    engine = make_engine(path, synchronous)
    metadata = sa.MetaData()
    tables = define_audit_tables(metadata)
    metadata.create_all(engine)
    return engine, tables, SqlAuditStore(engine, tables)


def events(start: int, count: int) -> list[AuditEvent]:
    """Release decisions and writes shaped like the real ones (who, what, decision, policy)."""
    return [
        AuditEvent(
            actor=f"user-{i % 97}",
            agency=("BP", "CUSTOMS", "COASTGUARD")[i % 3],
            action="release" if i % 4 else "write",
            record_kind="track",
            record_id=f"T-{i:08d}",
            decision=("full", "redacted", "nothing")[i % 3] if i % 4 else None,
            policy="mou-bp-customs-2026" if i % 4 else None,
            details={"viewer_agency": "CUSTOMS", "fields": ["position", "speed_mps"], "n": i},
        )
        for i in range(start, start + count)
    ]


def bench_appends(workdir: Path, total: int, batch: int, single: int) -> dict[str, Any]:
    signer = Signer.generate()
    engine, _, store = fresh(workdir / "append.db", "FULL")
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    log = AuditLog(store, signer, clock)
    pending = events(0, total)
    started = time.perf_counter()
    for offset in range(0, total, batch):
        log.append_many(pending[offset : offset + batch])
        clock.advance(1)
        log.sign_head()
    batched_s = time.perf_counter() - started
    ok = verify(store, signer.public_key).ok
    engine.dispose()

    engine, _, store = fresh(workdir / "append-single.db", "FULL")
    log = AuditLog(store, signer, clock)
    pending = events(0, single)
    started = time.perf_counter()
    for item in pending:
        log.append(item)
    single_s = time.perf_counter() - started
    engine.dispose()
    return {
        "batched": {
            "entries": total,
            "batch": batch,
            "heads_signed": -(-total // batch),
            "seconds": round(batched_s, 3),
            "appends_per_s": round(total / batched_s),
            "verified": ok,
        },
        "baseline_one_per_transaction": {
            "entries": single,
            "seconds": round(single_s, 3),
            "appends_per_s": round(single / single_s),
        },
        "speedup": round((total / batched_s) / (single / single_s), 1),
        "sqlite": "WAL, synchronous=FULL (each commit durable)",
    }


def build_large(workdir: Path, entries: int, head_every: int) -> tuple[Engine, SqlAuditStore, Signer, float]:
    # Building is bulk loading, not the durability benchmark: synchronous=OFF keeps it quick.
    signer = Signer.generate()
    engine, _, store = fresh(workdir / "large.db", "OFF")
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    log = AuditLog(store, signer, clock)
    started = time.perf_counter()
    step = min(head_every, 20_000)
    for offset in range(0, entries, step):
        count = min(step, entries - offset)
        log.append_many(events(offset, count))
        clock.advance(1)
        if (offset + count) % head_every == 0 or offset + count == entries:
            log.sign_head()
    return engine, store, signer, time.perf_counter() - started


def naive_verify(store: SqlAuditStore, head_sizes: list[int]) -> float:
    """Baseline: at every head, reread the log from the start and rebuild the tree from scratch."""
    started = time.perf_counter()
    for size in head_sizes:
        hashes = [leaf_hash(row.entry_json) for row in store.read_entries(0, size)]
        root = merkle_root(hashes)
        head = store.get_head(size)
        if head is None or head.root_hash != root:
            raise SystemExit(f"naive verification disagrees at {size}")
    return time.perf_counter() - started


def bench_verify(workdir: Path, entries: int, head_every: int, naive_heads: int) -> dict[str, Any]:
    engine, store, signer, build_s = build_large(workdir, entries, head_every)
    started = time.perf_counter()
    report = verify(store, signer.public_key)
    verify_s = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"verification failed: {report.problem}")
    head_sizes = [head.tree_size for head in store.read_heads()]
    sample = head_sizes[:naive_heads]
    naive_s = naive_verify(store, sample)
    # The naive cost is proportional to the leaves reread; project it over every head.
    per_leaf_s = naive_s / sum(sample)
    projected_naive_s = per_leaf_s * sum(head_sizes)

    rng = random.Random(7)
    log = AuditLog(store, signer, ManualClock())
    head = log.get_head()
    assert head is not None
    seqs = [rng.randrange(entries) for _ in range(200)]
    started = time.perf_counter()
    for seq in seqs:
        if not log.inclusion_proof(seq).verify(head.root_hash):
            raise SystemExit(f"inclusion proof for {seq} failed")
    inclusion_ms = (time.perf_counter() - started) * 1000 / len(seqs)
    olds = [rng.randrange(1, entries) for _ in range(50)]
    started = time.perf_counter()
    for old in olds:
        log.consistency_proof(old)
    consistency_ms = (time.perf_counter() - started) * 1000 / len(olds)
    started = time.perf_counter()
    all_leaves = list(store.read_leaf_hashes(0, entries))
    path = inclusion_path(seqs[0], entries, lambda a, b: merkle_root(all_leaves[a:b]))
    naive_proof_ms = (time.perf_counter() - started) * 1000
    if not verify_inclusion(all_leaves[seqs[0]], seqs[0], entries, path, head.root_hash):
        raise SystemExit("naive proof failed")
    engine.dispose()
    return {
        "entries": entries,
        "heads": len(head_sizes),
        "build_seconds": round(build_s, 1),
        "verify": {
            "seconds": round(verify_s, 2),
            "entries_per_s": round(entries / verify_s),
            "heads_checked": report.heads_checked,
            "nodes_checked": report.nodes_checked,
            "target_seconds": 60,
        },
        "baseline_naive_recompute_at_each_head": {
            "heads_run": len(sample),
            "leaves_reread": sum(sample),
            "seconds": round(naive_s, 2),
            "projected_seconds_all_heads": round(projected_naive_s, 1),
        },
        "verify_speedup_vs_projected_naive": round(projected_naive_s / verify_s, 1),
        "proofs": {
            "inclusion_ms": round(inclusion_ms, 2),
            "consistency_ms": round(consistency_ms, 2),
            "baseline_inclusion_from_all_leaves_ms": round(naive_proof_ms, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log to verify")
    parser.add_argument("--head-every", type=int, default=10_000, help="entries between signed heads")
    parser.add_argument("--naive-heads", type=int, default=10, help="heads the naive baseline recomputes")
    parser.add_argument("--append-entries", type=int, default=50_000, help="entries for the append benchmark")
    parser.add_argument("--batch", type=int, default=1_000, help="entries per durable batch")
    parser.add_argument("--single", type=int, default=2_000, help="entries appended one per transaction")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the SQLite files go (default: temp)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="concord-audit-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result: dict[str, Any] = {
            "benchmark": "audit",
            "python": sys.version.split()[0],
            "appends": bench_appends(workdir, args.append_entries, args.batch, args.single),
            "large_log": bench_verify(workdir, args.entries, args.head_every, args.naive_heads),
        }
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        result["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
