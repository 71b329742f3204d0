"""Backup and restore: a consistent, database-neutral snapshot of the journal, keys and audit log.

The journal is the source of truth, so a backup holds the journal (and the tables that are history in
their own right, such as the audit log) as JSON lines, plus the key files. Restore writes them into an
empty database of any supported kind and rebuilds every projection by replay, so a backup taken on
SQLite restores onto PostgreSQL and the other way round.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from concord import __version__
from concord.adapters import migrate
from concord.adapters.db import UtcDateTime, journal
from concord.adapters.journal import Projector, replay
from concord.domain.errors import Conflict, InvalidInput

__all__ = ["BackupManifest", "create_backup", "restore_backup"]

FORMAT = "concord-backup/1"
_MAX_MEMBER_BYTES = 8 * 1024**3


@dataclass(frozen=True, slots=True)
class BackupManifest:
    format: str
    version: str
    created_at: str
    schema_revision: str | None
    tables: dict[str, int]
    files: dict[str, str]  # member name -> sha256


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$hex": value.hex()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$hex" in value:
            return bytes.fromhex(value["$hex"])
    return value


def _rows(conn: Connection, table: sa.Table) -> Iterator[bytes]:
    pk = list(table.primary_key.columns)
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(
        sa.select(table).order_by(*pk)
    )
    for row in result.mappings():
        yield (json.dumps({k: _encode(v) for k, v in row.items()}, separators=(",", ":")) + "\n").encode()


def create_backup(
    engine: Engine,
    path: Path,
    *,
    key_dir: Path | None,
    history_tables: Sequence[sa.Table] = (),
    now: datetime,
) -> BackupManifest:
    """Write a snapshot of the journal, ``history_tables`` and the key files to ``path`` (tar.gz)."""
    tables = [journal, *history_tables]
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with tarfile.open(tmp, "w:gz") as tar, engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        with conn.begin():
            revision = migrate.current_revision(engine)
            for table in tables:
                buf = io.BytesIO()
                n = 0
                for line in _rows(conn, table):
                    buf.write(line)
                    n += 1
                data = buf.getvalue()
                name = f"tables/{table.name}.jsonl"
                _add(tar, name, data)
                counts[table.name] = n
                files[name] = hashlib.sha256(data).hexdigest()
        if key_dir is not None and key_dir.is_dir():
            for key_file in sorted(p for p in key_dir.rglob("*") if p.is_file()):
                data = key_file.read_bytes()
                name = f"keys/{key_file.relative_to(key_dir).as_posix()}"
                _add(tar, name, data, mode=0o600)
                files[name] = hashlib.sha256(data).hexdigest()
        manifest = BackupManifest(
            format=FORMAT,
            version=__version__,
            created_at=now.isoformat(),
            schema_revision=revision,
            tables=counts,
            files=files,
        )
        _add(tar, "manifest.json", json.dumps(asdict(manifest), indent=2).encode())
    tmp.replace(path)
    return manifest


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _read_members(path: Path) -> tuple[BackupManifest, dict[str, bytes]]:
    try:
        tar = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise InvalidInput(f"{path} is not a Concord backup: {exc}") from exc
    members: dict[str, bytes] = {}
    with tar:
        for info in tar.getmembers():
            if not info.isfile() or info.name.startswith("/") or ".." in Path(info.name).parts:
                raise InvalidInput(f"backup member {info.name!r} is not allowed")
            if info.size > _MAX_MEMBER_BYTES:
                raise InvalidInput(f"backup member {info.name!r} is too large")
            fh = tar.extractfile(info)
            if fh is None:
                raise InvalidInput(f"backup member {info.name!r} cannot be read")
            members[info.name] = fh.read()
    if "manifest.json" not in members:
        raise InvalidInput("backup has no manifest.json")
    try:
        raw = json.loads(members.pop("manifest.json"))
        manifest = BackupManifest(**raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"backup manifest is malformed: {exc}") from exc
    if manifest.format != FORMAT:
        raise InvalidInput(f"unsupported backup format {manifest.format!r}")
    for name, digest in manifest.files.items():
        data = members.get(name)
        if data is None:
            raise InvalidInput(f"backup is missing {name}")
        if hashlib.sha256(data).hexdigest() != digest:
            raise InvalidInput(f"backup member {name} does not match its checksum")
    return manifest, members


def restore_backup(
    engine: Engine,
    projector: Projector,
    path: Path,
    *,
    key_dir: Path | None,
    history_tables: Sequence[sa.Table] = (),
    progress: Callable[[str], None] | None = None,
) -> BackupManifest:
    """Restore ``path`` into an empty database (the schema is upgraded first) and rebuild projections."""
    manifest, members = _read_members(path)
    migrate.upgrade(engine)
    tables = {t.name: t for t in [journal, *history_tables]}
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one():
            raise Conflict("the target database already has a journal; restore needs an empty database")
    with engine.begin() as conn:
        for name, count in manifest.tables.items():
            table = tables.get(name)
            if table is None:
                raise InvalidInput(f"backup holds table {name!r}, which this version does not know")
            lines = members[f"tables/{name}.jsonl"].splitlines()
            if len(lines) != count:
                raise InvalidInput(f"backup table {name} has {len(lines)} rows, manifest says {count}")
            dt_cols = {c.name for c in table.columns if isinstance(c.type, UtcDateTime)}
            batch: list[dict[str, Any]] = []
            for line in lines:
                row = {k: _decode(v) for k, v in json.loads(line).items()}
                for col in dt_cols:
                    if isinstance(row.get(col), str):
                        row[col] = datetime.fromisoformat(row[col])
                batch.append(row)
                if len(batch) >= 2000:
                    conn.execute(table.insert(), batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
            if progress is not None:
                progress(f"restored {count} rows of {name}")
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('journal', 'seq'), "
                    "COALESCE((SELECT MAX(seq) FROM journal), 0) + 1, false)"
                )
            )
    replayed = replay(engine, projector)
    if progress is not None:
        progress(f"replayed {replayed} events into the read models")
    if key_dir is not None:
        for name, data in members.items():
            if not name.startswith("keys/"):
                continue
            target = key_dir / name.removeprefix("keys/")
            if target.exists() and target.read_bytes() != data:
                raise Conflict(f"key file {target} exists and differs; move it away before restoring")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o600)
    return manifest
