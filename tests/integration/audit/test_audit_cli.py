"""``concord audit`` commands against a SQLite audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from concord.adapters.audit_sql import AuditTables, SqlAuditStore, define_audit_tables
from concord.adapters.clock import ManualClock
from concord.audit import (
    AuditEvent,
    AuditLog,
    InclusionProof,
    SignedTreeHead,
    Signer,
    load_public_key,
    verify_sth,
)
from concord.domain.errors import Unavailable
from concord.entrypoints.cli_audit import build_app


class World:
    def __init__(self, path: Path) -> None:
        self.engine = sa.create_engine(f"sqlite:///{path}")
        metadata = sa.MetaData()
        self.tables: AuditTables = define_audit_tables(metadata)
        metadata.create_all(self.engine)
        self.store = SqlAuditStore(self.engine, self.tables)
        self.signer = Signer.generate()
        self.clock = ManualClock()
        self.log = AuditLog(self.store, self.signer, self.clock)
        self.app = build_app(lambda: (self.store, self.signer.public_key))
        self.runner = CliRunner()

    def fill(self, n: int, *, head: bool = True) -> None:
        start = self.log.size()
        self.log.append_many(
            [
                AuditEvent(actor="u", agency="BP", action="write", record_kind="zone", record_id=str(i))
                for i in range(start, start + n)
            ]
        )
        self.clock.advance(1)
        if head:
            self.log.sign_head()

    def run(self, *args: str):  # type: ignore[no-untyped-def]
        return self.runner.invoke(self.app, list(args))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "audit.db")
    w.fill(40)
    w.fill(60)
    w.fill(5, head=False)
    yield w
    w.engine.dispose()


def test_verify_ok(world: World) -> None:
    result = world.run("verify", "--quiet")
    assert result.exit_code == 0, result.output
    assert "OK: 105 entries, 2 signed heads" in result.stdout
    assert "5 entries are not yet covered" in result.stdout


def test_verify_json(world: World) -> None:
    result = world.run("verify", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["tree_size"] == 105


def test_verify_names_the_first_bad_entry(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(sa.delete(world.tables.entries).where(world.tables.entries.c.seq == 33))
    result = world.run("verify", "--quiet")
    assert result.exit_code == 1
    assert "first bad entry: seq 33" in result.stderr
    assert "entry-missing" in result.stderr


def test_verify_names_the_first_bad_signature(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(world.tables.heads)
            .where(world.tables.heads.c.tree_size == 40)
            .values(signature=b"\x00" * 64)
        )
    result = world.run("verify")
    assert result.exit_code == 1
    assert "first bad signature: head at tree size 40" in result.stderr


def test_verify_reports_an_unreachable_store(tmp_path: Path) -> None:
    def broken() -> tuple[SqlAuditStore, object]:
        raise Unavailable("the audit database is not available")

    app = build_app(broken)  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 2
    assert "not available" in result.stderr


def test_head(world: World) -> None:
    result = world.run("head")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tree_size"] == 100 and data["signature_valid"] is True
    assert verify_sth(SignedTreeHead.from_dict(data), world.signer.public_key)
    assert json.loads(world.run("head", "--size", "40").stdout)["tree_size"] == 40
    missing = world.run("head", "--size", "41")
    assert missing.exit_code == 2 and "no signed tree head for size 41" in missing.stderr


def test_proof_inclusion(world: World) -> None:
    result = world.run("proof", "inclusion", "17")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is True and data["head_signature_valid"] is True
    proof = InclusionProof.from_dict(data["proof"])
    assert proof.tree_size == 100
    assert proof.verify(bytes.fromhex(data["head"]["root_hash"]))
    assert json.loads(data["entry_json"])["seq"] == 17
    unsigned = json.loads(world.run("proof", "inclusion", "3", "--size", "103").stdout)
    assert unsigned["head"] is None and unsigned["verified"] is True


@pytest.mark.parametrize(
    "args",
    [("proof", "inclusion", "100"), ("proof", "inclusion", "1", "--size", "500")],
)
def test_proof_inclusion_refuses_out_of_range(world: World, args: tuple[str, ...]) -> None:
    result = world.run(*args)
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_bad_arguments_are_usage_errors(world: World) -> None:
    assert world.run("proof", "inclusion", "-1").exit_code == 2
    assert world.run("proof", "inclusion", "abc").exit_code == 2
    assert world.run("proof", "consistency", "5").exit_code == 2


def test_proof_consistency(world: World) -> None:
    result = world.run("proof", "consistency", "40", "100")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is True and data["head_signatures_valid"] is True
    assert data["old_head"]["tree_size"] == 40
    backwards = world.run("proof", "consistency", "100", "40")
    assert backwards.exit_code == 2


def test_verify_checks_heads_the_auditor_kept(world: World, tmp_path: Path) -> None:
    saved = tmp_path / "head-100.json"
    saved.write_text(world.run("head").stdout)
    assert world.run("verify", "--quiet", "--known-head", str(saved)).exit_code == 0
    # Someone cuts the log back and removes the heads that covered the lost entries.
    with world.engine.begin() as conn:
        conn.execute(sa.delete(world.tables.entries).where(world.tables.entries.c.seq >= 90))
        conn.execute(sa.delete(world.tables.heads).where(world.tables.heads.c.tree_size > 40))
    assert world.run("verify", "--quiet").exit_code == 0
    result = world.run("verify", "--quiet", "--known-head", str(saved))
    assert result.exit_code == 1
    assert "first bad head: tree size 100" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    bad = world.run("verify", "--known-head", str(garbage))
    assert bad.exit_code == 2 and "not a readable JSON head" in bad.stderr


def test_public_key(world: World) -> None:
    result = world.run("public-key")
    assert result.exit_code == 0
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert (
        load_public_key(result.stdout.encode()).public_bytes_raw()
        == world.signer.public_key.public_bytes_raw()
    )
    assert world.signer.key_id in result.stderr


def test_rebuild_cache(tmp_path: Path) -> None:
    w = World(tmp_path / "big.db")
    w.fill(600)
    with w.engine.begin() as conn:
        conn.execute(sa.delete(w.tables.nodes))
    result = w.run("rebuild-cache")
    assert result.exit_code == 0
    assert "added 2 cached subtree hashes" in result.stdout
    report = w.run("verify", "--json")
    assert json.loads(report.stdout)["nodes_checked"] == 2
    w.engine.dispose()
