"""Access reports from recorded release decisions: what one agency received from another, and when not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from concord.domain.errors import InvalidInput
from concord.domain.types import ensure_utc
from concord.sharing._outcome import ReleaseDecision

__all__ = ["AccessReport", "access_report"]

#: The key under which releases that needed no agreement (community TLP:CLEAR/GREEN records) are counted.
NO_AGREEMENT = "(none: community release)"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessReport:
    """What ``recipient`` agency received from ``originator`` agency in [start, end)."""

    recipient: str
    originator: str
    start: datetime
    end: datetime
    full: int
    redacted: int
    withheld: int
    by_agreement: Mapping[str, int]
    by_category: Mapping[str, int]
    by_kind: Mapping[str, int]
    withheld_requests: tuple[ReleaseDecision, ...]

    @property
    def released(self) -> int:
        return self.full + self.redacted

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "originator": self.originator,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "released": self.released,
            "full": self.full,
            "redacted": self.redacted,
            "withheld": self.withheld,
            "by_agreement": dict(self.by_agreement),
            "by_category": dict(self.by_category),
            "by_kind": dict(self.by_kind),
            "withheld_requests": [d.to_dict() for d in self.withheld_requests],
        }


def access_report(
    decisions: Iterable[ReleaseDecision], *, recipient: str, originator: str, start: datetime, end: datetime
) -> AccessReport:
    """Summarise the decisions on ``originator``'s records for ``recipient``'s users in [start, end).

    Released records are counted by agreement (a release under two agreements counts for both), by
    need-to-know category released and by record kind; every withheld request is listed.
    """
    start, end = ensure_utc(start), ensure_utc(end)
    if end <= start:
        raise InvalidInput("the report period must end after it starts", details={"field": "end"})
    full = redacted = 0
    by_agreement: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    withheld: list[ReleaseDecision] = []
    for decision in decisions:
        if decision.viewer_agency != recipient or decision.originator != originator:
            continue
        if not start <= decision.at < end:
            continue
        if decision.decision == "withheld":
            withheld.append(decision)
            continue
        if decision.decision == "full":
            full += 1
        else:
            redacted += 1
        for agreement_id in decision.agreement_ids or (NO_AGREEMENT,):
            by_agreement[agreement_id] += 1
        by_category.update(decision.categories)
        by_kind[decision.record_kind] += 1
    withheld.sort(key=lambda d: (d.at, d.record_id, d.viewer_user_id))
    return AccessReport(
        recipient=recipient,
        originator=originator,
        start=start,
        end=end,
        full=full,
        redacted=redacted,
        withheld=len(withheld),
        by_agreement=dict(sorted(by_agreement.items())),
        by_category=dict(sorted(by_category.items())),
        by_kind=dict(sorted(by_kind.items())),
        withheld_requests=tuple(withheld),
    )
