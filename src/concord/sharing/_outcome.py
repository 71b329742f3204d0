"""What the release gate gives back: Released (Full or Redacted), Withheld, and the Explanation.

Only the gate makes :class:`Released` values (its constructor demands a token private to this
package), so egress code that accepts only ``Released`` cannot send anything the gate did not pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar, get_args

from concord.domain.identity import Viewer
from concord.domain.marking import Marking
from concord.sharing._records import Shareable

__all__ = [
    "DENY_REASONS",
    "DecisionKind",
    "DenyReason",
    "Explanation",
    "FieldRedaction",
    "Full",
    "Redacted",
    "ReleaseDecision",
    "ReleaseResult",
    "Released",
    "Withheld",
]

DenyReason = Literal[
    "above-clearance",
    "not-releasable",
    "no-agreement",
    "agreement-expired",
    "agreement-not-yet-valid",
    "agreement-revoked",
    "tlp",
    "category-forbidden",
    "category-not-covered",
    "field-not-releasable",
    "need-to-know",
    "exercise-separation",
    "invalid-marking",
    "not-permitted",
]
"""Stable codes saying why a record was withheld or a field redacted (documented in docs/security.md)."""

DENY_REASONS: Final[frozenset[str]] = frozenset(get_args(DenyReason))

DecisionKind = Literal["full", "redacted", "withheld"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldRedaction:
    """One field removed from a released record, with why and which policies removed it."""

    field: str
    category: str | None
    reasons: tuple[DenyReason, ...]
    policy_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "category": self.category,
            "reasons": list(self.reasons),
            "policy_ids": list(self.policy_ids),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why the gate decided as it did, in terms a security officer can check against the policy files.

    ``policy_ids`` are the Cedar policies that decided the record (the permits when it was released,
    the forbids when it was withheld); ``agreement_ids`` the agreements in force that allowed it;
    ``categories`` the need-to-know categories of what was released.
    """

    decision: DecisionKind
    policy_ids: tuple[str, ...]
    deny_reasons: tuple[DenyReason, ...]
    redacted: tuple[FieldRedaction, ...]
    agreement_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def redacted_fields(self) -> tuple[str, ...]:
        return tuple(r.field for r in self.redacted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "policy_ids": list(self.policy_ids),
            "deny_reasons": list(self.deny_reasons),
            "redacted": [r.to_dict() for r in self.redacted],
            "agreement_ids": list(self.agreement_ids),
            "categories": list(self.categories),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseDecision:
    """One decision as the audit log and the access reports keep it (no record content)."""

    record_kind: str
    record_id: str
    originator: str
    viewer_user_id: str
    viewer_agency: str
    at: datetime
    decision: DecisionKind
    deny_reasons: tuple[DenyReason, ...]
    policy_ids: tuple[str, ...]
    agreement_ids: tuple[str, ...]
    categories: tuple[str, ...]
    redacted_fields: tuple[str, ...]
    banner: str
    exercise: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_kind": self.record_kind,
            "record_id": self.record_id,
            "originator": self.originator,
            "viewer_user_id": self.viewer_user_id,
            "viewer_agency": self.viewer_agency,
            "at": self.at.isoformat(),
            "decision": self.decision,
            "deny_reasons": list(self.deny_reasons),
            "policy_ids": list(self.policy_ids),
            "agreement_ids": list(self.agreement_ids),
            "categories": list(self.categories),
            "redacted_fields": list(self.redacted_fields),
            "banner": self.banner,
            "exercise": self.exercise,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseDecision:
        decision = data["decision"]
        if decision not in ("full", "redacted", "withheld"):
            raise ValueError(f"unknown decision {decision!r}")
        reasons = tuple(data.get("deny_reasons", ()))
        unknown = [r for r in reasons if r not in DENY_REASONS]
        if unknown:
            raise ValueError(f"unknown deny reasons {unknown!r}")
        return cls(
            record_kind=str(data["record_kind"]),
            record_id=str(data["record_id"]),
            originator=str(data["originator"]),
            viewer_user_id=str(data["viewer_user_id"]),
            viewer_agency=str(data["viewer_agency"]),
            at=datetime.fromisoformat(data["at"]),
            decision=decision,
            deny_reasons=reasons,
            policy_ids=tuple(str(p) for p in data.get("policy_ids", ())),
            agreement_ids=tuple(str(a) for a in data.get("agreement_ids", ())),
            categories=tuple(str(c) for c in data.get("categories", ())),
            redacted_fields=tuple(str(f) for f in data.get("redacted_fields", ())),
            banner=str(data.get("banner", "")),
            exercise=bool(data.get("exercise", False)),
        )


@dataclass(frozen=True, slots=True)
class Full:
    """The whole record may go out."""

    record: Shareable


@dataclass(frozen=True, slots=True)
class Redacted:
    """A copy of the record without the fields the viewer may not have."""

    record: Shareable
    removed: tuple[str, ...]


_GATE_TOKEN: Final = object()

T = TypeVar("T", Full, Redacted)


class Released(Generic[T]):
    """A record the gate released to one viewer at one time: the only thing egress may send.

    Made only by the release gate. ``value`` is :class:`Full` or :class:`Redacted`; ``record`` is the
    record to send (already redacted when it had to be).
    """

    __slots__ = ("_at", "_explanation", "_value", "_viewer")

    _value: T
    _viewer: Viewer
    _at: datetime
    _explanation: Explanation

    def __init__(
        self, value: T, *, viewer: Viewer, at: datetime, explanation: Explanation, token: object
    ) -> None:
        if token is not _GATE_TOKEN:
            raise TypeError("Released values are made only by the release gate (concord.sharing)")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_viewer", viewer)
        object.__setattr__(self, "_at", at)
        object.__setattr__(self, "_explanation", explanation)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Released values are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Released values are immutable")

    def __reduce__(self) -> Any:
        # Copying or unpickling would be a way to mint Released values outside the gate.
        raise TypeError("Released values cannot be copied or pickled")

    @property
    def value(self) -> T:
        return self._value

    @property
    def record(self) -> Shareable:
        return self._value.record

    @property
    def viewer(self) -> Viewer:
        return self._viewer

    @property
    def at(self) -> datetime:
        return self._at

    @property
    def explanation(self) -> Explanation:
        return self._explanation

    @property
    def redacted_fields(self) -> tuple[str, ...]:
        return self._value.removed if isinstance(self._value, Redacted) else ()

    def decision_record(self) -> ReleaseDecision:
        """The audit form of this decision."""
        record = self.record
        return _decision_record(
            record.kind,
            record.record_id,
            record.marking,
            record.exercise,
            self._viewer,
            self._at,
            self._explanation,
        )

    def __repr__(self) -> str:
        return (
            f"Released({type(self._value).__name__}, kind={self.record.kind!r}, "
            f"record_id={self.record.record_id!r}, viewer={self._viewer.user_id!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Withheld:
    """Nothing goes out; ``explanation.deny_reasons`` says why (for the audit log, never the viewer).

    It holds no record content, only what the audit log needs to name the record.
    """

    record_kind: str
    record_id: str
    marking: Marking
    exercise: bool
    viewer: Viewer
    at: datetime
    explanation: Explanation

    @property
    def deny_reasons(self) -> tuple[DenyReason, ...]:
        return self.explanation.deny_reasons

    def decision_record(self) -> ReleaseDecision:
        return _decision_record(
            self.record_kind,
            self.record_id,
            self.marking,
            self.exercise,
            self.viewer,
            self.at,
            self.explanation,
        )

    def __repr__(self) -> str:
        return (
            f"Withheld(kind={self.record_kind!r}, record_id={self.record_id!r}, "
            f"viewer={self.viewer.user_id!r}, reasons={self.explanation.deny_reasons!r})"
        )


ReleaseResult = Released[Full] | Released[Redacted] | Withheld


def _decision_record(
    kind: str,
    record_id: str,
    marking: Marking,
    exercise: bool,
    viewer: Viewer,
    at: datetime,
    explanation: Explanation,
) -> ReleaseDecision:
    return ReleaseDecision(
        record_kind=kind,
        record_id=record_id,
        originator=marking.originator,
        viewer_user_id=viewer.user_id,
        viewer_agency=viewer.agency,
        at=at,
        decision=explanation.decision,
        deny_reasons=explanation.deny_reasons,
        policy_ids=explanation.policy_ids,
        agreement_ids=explanation.agreement_ids,
        categories=explanation.categories,
        redacted_fields=explanation.redacted_fields,
        banner=marking.banner(),
        exercise=exercise,
    )
