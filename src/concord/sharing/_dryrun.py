"""Dry run of an agreement change: what each partner agency would gain or lose, record by record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from concord.domain.agreement import AgreementSet
from concord.domain.identity import Agency, AgencyKind, Viewer
from concord.sharing._gate import ReleaseGate
from concord.sharing._outcome import Withheld
from concord.sharing._records import Shareable

__all__ = ["PartnerChange", "RecordRef", "dry_run"]


@dataclass(frozen=True, slots=True, order=True)
class RecordRef:
    """Names a record without carrying any of its content."""

    kind: str
    record_id: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "record_id": self.record_id}


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerChange:
    """What one agency's users would see differently under the proposed agreements."""

    agency: str
    gained: tuple[RecordRef, ...]
    lost: tuple[RecordRef, ...]
    fields_gained: Mapping[RecordRef, tuple[str, ...]]
    fields_lost: Mapping[RecordRef, tuple[str, ...]]

    @property
    def unchanged(self) -> bool:
        return not (self.gained or self.lost or self.fields_gained or self.fields_lost)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "gained": [r.to_dict() for r in self.gained],
            "lost": [r.to_dict() for r in self.lost],
            "fields_gained": [
                {**r.to_dict(), "fields": list(f)} for r, f in sorted(self.fields_gained.items())
            ],
            "fields_lost": [{**r.to_dict(), "fields": list(f)} for r, f in sorted(self.fields_lost.items())],
        }


def _visible(
    gate: ReleaseGate, records: Sequence[Shareable], viewers: Sequence[Viewer], at: datetime
) -> dict[RecordRef, frozenset[str]]:
    """For each record any of the viewers may see, the union of the fields they receive."""
    seen: dict[RecordRef, frozenset[str]] = {}
    for record in records:
        ref = RecordRef(record.kind, record.record_id)
        for viewer in viewers:
            result = gate.release(record, viewer, at)
            if isinstance(result, Withheld):
                continue
            seen[ref] = seen.get(ref, frozenset()) | frozenset(result.record.fields)
    return seen


def dry_run(
    gate: ReleaseGate,
    records: Iterable[Shareable],
    viewers_by_agency: Mapping[str, Sequence[Viewer]],
    current_agreements: AgreementSet,
    proposed_agreements: AgreementSet,
    at: datetime,
) -> dict[str, PartnerChange]:
    """Per agency in ``viewers_by_agency``: records and fields gained or lost by the proposed change.

    Uses ``gate``'s policies, agencies and ladder with each agreement set in turn; ``gate`` itself is
    not changed. A record counts as seen by an agency when any of its listed viewers would see it.
    """
    agencies = [Agency(code=c, name=c, kind=AgencyKind(k)) for c, k in gate.agencies.items()]
    before = ReleaseGate(
        policies=gate.policies, agencies=agencies, agreements=current_agreements, ladder=gate.ladder
    )
    after = ReleaseGate(
        policies=gate.policies, agencies=agencies, agreements=proposed_agreements, ladder=gate.ladder
    )
    items = list(records)
    report: dict[str, PartnerChange] = {}
    for agency, viewers in sorted(viewers_by_agency.items()):
        old = _visible(before, items, viewers, at)
        new = _visible(after, items, viewers, at)
        both = old.keys() & new.keys()
        fields_gained = {r: tuple(sorted(new[r] - old[r])) for r in both if new[r] - old[r]}
        fields_lost = {r: tuple(sorted(old[r] - new[r])) for r in both if old[r] - new[r]}
        report[agency] = PartnerChange(
            agency=agency,
            gained=tuple(sorted(new.keys() - old.keys())),
            lost=tuple(sorted(old.keys() - new.keys())),
            fields_gained=dict(sorted(fields_gained.items())),
            fields_lost=dict(sorted(fields_lost.items())),
        )
    return report
