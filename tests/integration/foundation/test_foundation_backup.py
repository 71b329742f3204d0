"""Backup and restore onto a fresh host: same journal, same read models, same logins, keys back."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import FAST_HASHER, START
from tests.factories import PASSWORD, small_world

from concord.adapters.clock import ManualClock
from concord.adapters.db import journal
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.errors import Conflict, InvalidInput
from concord.services.backup import create_backup, restore_backup


def _dump(concord: Concord) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    with concord.engine.connect() as conn:
        for t in [journal, *concord.projector.tables]:
            pk = list(t.primary_key.columns)
            out[t.name] = [tuple(r) for r in conn.execute(sa.select(t).order_by(*pk))]
    return out


def _fresh(tmp_path: Path, name: str, url: str) -> Concord:
    settings = Settings(env="test", database_url=url, data_dir=tmp_path / name, secret_key="t" * 40)
    return bootstrap(settings, clock=ManualClock(START), password_hasher=FAST_HASHER)


@pytest.fixture
def source(tmp_path: Path) -> Concord:
    concord = _fresh(tmp_path, "source", f"sqlite:///{tmp_path / 'source.db'}")
    small_world(concord)
    concord.accounts.issue_token("bp.op", name="feed")
    keys = concord.settings.effective_key_dir
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "master.key").write_bytes(b"k" * 32)
    return concord


def test_restore_onto_a_fresh_host(source: Concord, db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    manifest = create_backup(source.engine, archive, key_dir=source.settings.effective_key_dir, now=START)
    assert manifest.tables["journal"] > 0
    target = _fresh(tmp_path, "target", db_url)
    try:
        restore_backup(target.engine, target.projector, archive, key_dir=target.settings.effective_key_dir)
        before, after = _dump(source), _dump(target)
        assert after == before
        assert target.accounts.login("cg.cmd", PASSWORD).user.agency == "CG"
        assert (target.settings.effective_key_dir / "master.key").read_bytes() == b"k" * 32
        # The restored journal keeps counting from where it was.
        target.accounts.create_agency("IMM", "Immigration", "immigration")
        assert target.accounts.get_agency("IMM").name == "Immigration"
        with pytest.raises(Conflict, match="empty database"):
            restore_backup(target.engine, target.projector, archive, key_dir=None)
    finally:
        target.close()
        source.close()


def test_tampered_or_foreign_archives_are_refused(source: Concord, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    create_backup(source.engine, archive, key_dir=None, now=START)
    members = {}
    with tarfile.open(archive) as tar:
        for info in tar.getmembers():
            members[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    members["tables/journal.jsonl"] = members["tables/journal.jsonl"].replace(
        b"Border Police", b"Border Polize"
    )
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = _fresh(tmp_path, "t2", f"sqlite:///{tmp_path / 't2.db'}")
    try:
        with pytest.raises(InvalidInput, match="checksum"):
            restore_backup(target.engine, target.projector, tampered, key_dir=None)
        junk = tmp_path / "junk.tar.gz"
        junk.write_bytes(b"not a tarball")
        with pytest.raises(InvalidInput, match="not a Concord backup"):
            restore_backup(target.engine, target.projector, junk, key_dir=None)
        evil = tmp_path / "evil.tar.gz"
        with tarfile.open(evil, "w:gz") as tar:
            info = tarfile.TarInfo("../../etc/cron.d/x")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        with pytest.raises(InvalidInput, match="not allowed"):
            restore_backup(target.engine, target.projector, evil, key_dir=None)
    finally:
        target.close()
        source.close()
