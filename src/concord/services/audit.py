"""The audit trail as a service: every journal write and every release decision, in the Merkle log.

Writes are audited inside the unit of work that makes them (``before_commit``), so a failed audit write
fails the command. Release decisions are audited per request, grouped by decision and originator, with
the ids of the records concerned: what each agency received and every withheld request can be reported.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from concord.adapters.audit_sql import AuditTables, SqlAuditStore
from concord.audit import (
    AuditEntry,
    AuditEvent,
    AuditLog,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    Signer,
    VerifyReport,
    public_key_pem,
    verify,
)
from concord.domain.events import JournalEvent
from concord.domain.identity import Viewer
from concord.domain.ports import Clock
from concord.sharing import ReleaseDecision, ReleaseResult

__all__ = ["AuditService"]

# Keeps an entry well under the audit log's 64 KiB entry limit.
MAX_DECISIONS_PER_ENTRY = 150


class AuditService:
    def __init__(
        self, *, engine: Engine, tables: AuditTables, signer: Callable[[], Signer], clock: Clock
    ) -> None:
        self._engine = engine
        self.tables = tables
        self._store = SqlAuditStore(engine, tables)
        self._load_signer = signer
        self._log: AuditLog | None = None
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def log(self) -> AuditLog:
        # The signing key is loaded (or made) on first use, so a restore can bring its own first.
        if self._log is None:
            self._log = AuditLog(self._store, self._load_signer(), self._clock)
        return self._log

    @property
    def signer(self) -> Signer:
        self.log  # noqa: B018 - loads the key
        return self._load_signer()

    @property
    def public_key(self) -> Any:
        return self.signer.public_key

    def public_key_pem(self) -> str:
        return public_key_pem(self.public_key).decode()

    def store_on_engine(self) -> SqlAuditStore:
        return self._store

    def store_on(self, conn: Connection) -> SqlAuditStore:
        return self._store.on(conn)

    # -- writes --------------------------------------------------------------------------------
    def before_commit(self, conn: Connection, events: Sequence[JournalEvent]) -> None:
        """Audit the journal events of a unit of work in its own transaction."""
        entries = [
            AuditEvent(
                actor=e.actor,
                agency=e.agency,
                action=e.type,
                record_kind="journal",
                record_id=str(e.seq),
                details={"event_id": e.event_id, "banner": e.marking.banner(), "exercise": e.exercise},
                at=e.occurred_at,
            )
            for e in events
        ]
        self.log.with_store(self._store.on(conn)).append_many(entries)

    # -- release decisions ---------------------------------------------------------------------
    def record_releases(self, viewer: Viewer, results: Iterable[ReleaseResult], path: str) -> int:
        """Append this request's decisions, grouped by (decision, originator, kind), one line per record."""
        groups: dict[tuple[str, str, str], list[ReleaseDecision]] = defaultdict(list)
        for result in results:
            decision = result.decision_record()
            groups[(decision.decision, decision.originator, decision.record_kind)].append(decision)
        events: list[AuditEvent] = []
        for (decision_kind, originator, kind), items in sorted(groups.items()):
            for start in range(0, len(items), MAX_DECISIONS_PER_ENTRY):
                chunk = items[start : start + MAX_DECISIONS_PER_ENTRY]
                policies = sorted({p for d in chunk for p in d.policy_ids})
                events.append(
                    AuditEvent(
                        actor=viewer.user_id,
                        agency=viewer.agency,
                        action="release",
                        record_kind=kind,
                        record_id=chunk[0].record_id if len(chunk) == 1 else "",
                        decision=decision_kind,
                        policy=",".join(policies) or None,
                        details={
                            "originator": originator,
                            "path": path,
                            "decisions": [_compact(d) for d in chunk],
                        },
                        at=chunk[0].at,
                    )
                )
        if events:
            with self._lock:
                self.log.append_many(events)
        return len(events)

    def decisions_between(self, start: datetime, end: datetime) -> list[ReleaseDecision]:
        """Every release decision recorded in [start, end), oldest first (for access reports)."""
        out: list[ReleaseDecision] = []
        size = self.size()
        step = 5000
        for begin in range(0, size, step):
            for entry in self.log.entries(begin, min(size, begin + step)):
                if entry.action != "release" or not (start <= entry.at < end):
                    continue
                base = {
                    "record_kind": entry.record_kind,
                    "originator": entry.details.get("originator", ""),
                    "viewer_user_id": entry.actor,
                    "viewer_agency": entry.agency,
                    "at": entry.at.isoformat(),
                    "decision": entry.decision or "withheld",
                }
                for item in entry.details.get("decisions", []):
                    out.append(ReleaseDecision.from_dict({**base, **item}))
        return out

    # -- auditors ------------------------------------------------------------------------------
    def sign_head(self) -> SignedTreeHead:
        with self._lock:
            return self.log.sign_head()

    def head(self, size: int | None = None) -> SignedTreeHead | None:
        return self.log.get_head(size)

    def size(self) -> int:
        return self.log.size()

    def entries(self, start: int, stop: int) -> list[AuditEntry]:
        return self.log.entries(start, stop)

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        return self.log.inclusion_proof(seq, tree_size)

    def consistency_proof(self, old: int, new: int | None = None) -> ConsistencyProof:
        return self.log.consistency_proof(old, new)

    def verify(self) -> VerifyReport:
        return verify(self._store, self.signer.public_key)

    def history_tables(self) -> list[sa.Table]:
        return [self.tables.entries, self.tables.heads, self.tables.nodes]


def _compact(decision: ReleaseDecision) -> dict[str, Any]:
    return {
        "record_id": decision.record_id,
        "deny_reasons": list(decision.deny_reasons),
        "policy_ids": list(decision.policy_ids),
        "agreement_ids": list(decision.agreement_ids),
        "categories": list(decision.categories),
        "redacted_fields": list(decision.redacted_fields),
        "banner": decision.banner,
        "exercise": decision.exercise,
    }
