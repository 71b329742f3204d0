"""Sharing as a service: the release gate wired to the journal, agreements managed as events.

The gate is built once from the shipped Cedar policies, the agencies and the agreements folded from the
journal. Signing, amending and revoking an agreement are journal events; the gate applies each one as
soon as it is committed, so a revocation takes effect on every path at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from concord.adapters.journal import UnitOfWorkFactory, read_events
from concord.domain.agreement import (
    Agreement,
    AgreementAmended,
    AgreementEvent,
    AgreementRevoked,
    AgreementSet,
    AgreementSigned,
    AgreementVocabulary,
    agreement_event_from_dict,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.events import envelope
from concord.domain.identity import Agency, Viewer
from concord.domain.marking import Marking, Tlp
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.services.records import shareable_of
from concord.sharing import (
    Explanation,
    PartnerChange,
    ReleaseGate,
    ReleasePolicies,
    ReleaseResult,
    Shareable,
    Visible,
    Withheld,
    dry_run,
)

__all__ = ["AGREEMENT_EVENTS", "CATCH_UP_S", "SharingService"]

CATCH_UP_S = 0.5

AGREEMENT_EVENTS = ("AgreementSigned", "AgreementAmended", "AgreementRevoked")


class SharingService:
    """The one release gate of this process, and the agreements that feed it."""

    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policies: ReleasePolicies,
        agencies: Sequence[Agency],
    ) -> None:
        self._engine = engine
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._lock = threading.RLock()
        self._agencies = list(agencies)
        self._seq = 0
        self._checked_at = time.monotonic()
        self._gate = ReleaseGate(policies=policies, agencies=self._agencies, agreements=self._load())

    def _load(self) -> AgreementSet:
        agreements = AgreementSet()
        with self._engine.connect() as conn:
            for event in read_events(conn, types=AGREEMENT_EVENTS):
                agreements = agreements.apply(agreement_event_from_dict(event.payload))
                self._seq = max(self._seq, event.seq or 0)
        return agreements

    @property
    def gate(self) -> ReleaseGate:
        """The release gate, with the agreement changes other processes journalled taken in.

        Processes sharing a database (API and egress nodes) look for new agreement events at most
        every ``CATCH_UP_S`` seconds: a revocation on one node takes effect on every node within that.
        """
        if time.monotonic() - self._checked_at >= CATCH_UP_S:
            with self._lock:
                self._catch_up()
        return self._gate

    def _catch_up(self) -> None:
        """Apply agreement events journalled after this gate's position. Caller holds the lock."""
        with self._engine.connect() as conn:
            events = list(read_events(conn, after_seq=self._seq, types=AGREEMENT_EVENTS))
        self._checked_at = time.monotonic()
        for event in events:
            self._gate.apply(agreement_event_from_dict(event.payload))
            self._seq = max(self._seq, event.seq or 0)

    def agencies_changed(self, agencies: Sequence[Agency]) -> None:
        """Rebuild the gate when the set of agencies changes (a new agency is a new kind of viewer)."""
        with self._lock:
            self._agencies = list(agencies)
            self._gate = ReleaseGate(
                policies=self._policies, agencies=self._agencies, agreements=self._gate.agreements
            )

    # -- agreements --------------------------------------------------------------------------------
    def agreements(self) -> list[Agreement]:
        return sorted(self.gate.agreements.agreements.values(), key=lambda a: a.agreement_id)

    def agreement(self, agreement_id: str) -> Agreement:
        found = self.gate.agreements.agreements.get(agreement_id)
        if found is None:
            raise NotFound("no such agreement")
        return found

    def sign(self, agreement: Agreement, *, actor: str) -> Agreement:
        self._check_agencies(agreement)
        if agreement.agreement_id in self.gate.agreements.agreements:
            raise Conflict(
                "an agreement with this id exists; amend it instead", details={"field": "agreement_id"}
            )
        self._commit(
            AgreementSigned(agreement=agreement, occurred_at=self._clock.now()), actor, agreement.owner
        )
        return self.agreement(agreement.agreement_id)

    def amend(self, agreement: Agreement, *, actor: str) -> Agreement:
        self._check_agencies(agreement)
        current = self.agreement(agreement.agreement_id)
        if (current.owner, current.partner) != (agreement.owner, agreement.partner):
            raise InvalidInput("an amendment keeps the owner and the partner", details={"field": "partner"})
        if current.revoked:
            raise Conflict("a revoked agreement cannot be amended; sign a new one")
        self._commit(
            AgreementAmended(agreement=agreement, occurred_at=self._clock.now()), actor, current.owner
        )
        return self.agreement(agreement.agreement_id)

    def revoke(self, agreement_id: str, *, actor: str, reason: str = "") -> Agreement:
        current = self.agreement(agreement_id)
        if current.revoked:
            raise Conflict("the agreement is already revoked")
        event = AgreementRevoked(agreement_id=agreement_id, occurred_at=self._clock.now(), reason=reason)
        self._commit(event, actor, current.owner)
        return self.agreement(agreement_id)

    def proposed_set(self, change: AgreementEvent) -> AgreementSet:
        return self.gate.agreements.apply(change)

    def _check_agencies(self, agreement: Agreement) -> None:
        AgreementVocabulary(agencies=frozenset(a.code for a in self._agencies)).validate(agreement)

    def _commit(self, event: AgreementEvent, actor: str, owner: str) -> None:
        with self._lock:
            self._catch_up()
            # Validates the change against the current set before anything is written.
            self._gate.agreements.apply(event)
            with self._uow() as uow:
                stored = uow.append(
                    envelope(
                        type(event).event_type,
                        event.to_dict(),
                        at=event.occurred_at,
                        actor=actor,
                        agency=owner,
                        marking=Marking(classification="UNCLASSIFIED", originator=owner, tlp=Tlp.AMBER),
                    )
                )
                # The journal lock is held now: another process's change in between means this one was
                # validated against a stale set.
                others = [
                    e
                    for e in read_events(uow.conn, after_seq=self._seq, types=AGREEMENT_EVENTS)
                    if e.seq != stored.seq
                ]
                if others:
                    raise Conflict("the agreements changed meanwhile; look again and retry")
                uow.commit()
            self._gate.apply(event)
            self._seq = max(self._seq, stored.seq or 0)

    # -- releasing ---------------------------------------------------------------------------------
    def release(
        self, row: RecordRow | Shareable, viewer: Viewer, *, at: datetime | None = None
    ) -> ReleaseResult:
        record = shareable_of(row) if isinstance(row, RecordRow) else row
        return self.gate.release(record, viewer, at or self._clock.now(), exercise_session=record.exercise)

    def visible(self, rows: Iterable[RecordRow], viewer: Viewer, *, exercise: bool = False) -> list[Visible]:
        """Only what ``viewer`` may receive, in order (count and page after this, never before)."""
        at = self._clock.now()
        out: list[Visible] = []
        for row in rows:
            result = self.gate.release(shareable_of(row), viewer, at, exercise_session=exercise)
            if not isinstance(result, Withheld):
                out.append(result)
        return out

    def explain(self, row: RecordRow, viewer: Viewer) -> Explanation:
        return self.gate.explain(shareable_of(row), viewer, self._clock.now(), exercise_session=row.exercise)

    def dry_run(
        self, rows: Sequence[RecordRow], viewers: Sequence[Viewer], change: AgreementEvent
    ) -> list[PartnerChange]:
        proposed = self.proposed_set(change)
        by_agency: dict[str, list[Viewer]] = {}
        for v in viewers:
            by_agency.setdefault(v.agency, []).append(v)
        changes = dry_run(
            self.gate,
            [shareable_of(r) for r in rows],
            by_agency,
            self.gate.agreements,
            proposed,
            self._clock.now(),
        )
        return [changes[a] for a in sorted(changes)]
