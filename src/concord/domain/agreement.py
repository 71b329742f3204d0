"""Sharing agreements (MOUs) between agencies, their events and the versioned set the gate reads.

An :class:`Agreement` says that an owner agency lets one partner agency receive records in given
need-to-know categories and given sensitive fields, between two dates, and whether the partner may
re-share them. Agreements change only through events (:class:`AgreementSigned`,
:class:`AgreementAmended`, :class:`AgreementRevoked`), which the journal stores as ``to_dict`` payloads.
An :class:`AgreementSet` folds those events; every change gives it a new ``version``, and the release
gate keys its decision cache on that version, so a revocation takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.marking import DEFAULT_CATEGORIES
from concord.domain.types import ensure_utc

__all__ = [
    "DEFAULT_FIELDS",
    "Agreement",
    "AgreementAmended",
    "AgreementEvent",
    "AgreementRevoked",
    "AgreementSet",
    "AgreementSigned",
    "AgreementStatus",
    "AgreementVocabulary",
    "agreement_event_from_dict",
]

#: The sensitive fields an agreement can name, unless a deployment configures its own list.
DEFAULT_FIELDS: frozenset[str] = frozenset(
    {
        "person_name",
        "date_of_birth",
        "nationality",
        "document_number",
        "biometrics",
        "intel_source",
        "vehicle_registration",
        "vessel_owner",
        "phone_number",
    }
)

AgreementStatus = Literal["in-force", "not-yet-valid", "expired", "revoked"]

_MAX_TEXT = 200


def _time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput(f"{name} is not an ISO 8601 time", details={"field": name}) from exc
    else:
        raise InvalidInput(f"{name} must be a time", details={"field": name})
    try:
        return ensure_utc(moment)
    except ValueError as exc:
        raise InvalidInput(f"{name} must carry a time zone", details={"field": name}) from exc


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise InvalidInput(
            f"{name} must be a non-empty string of at most {_MAX_TEXT} characters", details={"field": name}
        )
    return value


def _names(value: Any, name: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a list of names", details={"field": name})
    return frozenset(_text(item, name) for item in value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """One version of an MOU from ``owner`` (who shares) to ``partner`` (who receives).

    In force from ``valid_from`` (inclusive) until ``valid_until`` (exclusive; ``None`` = open-ended),
    unless revoked. A revoked agreement releases nothing, whatever the time asked about.
    """

    agreement_id: str
    owner: str
    partner: str
    valid_from: datetime
    valid_until: datetime | None = None
    categories: frozenset[str] = field(default_factory=frozenset)
    fields: frozenset[str] = field(default_factory=frozenset)
    may_reshare: bool = False
    version: int = 1
    revoked: bool = False

    def __post_init__(self) -> None:
        _text(self.agreement_id, "agreement_id")
        _text(self.owner, "owner")
        _text(self.partner, "partner")
        if self.owner == self.partner:
            raise InvalidInput("an agreement needs two different agencies", details={"field": "partner"})
        object.__setattr__(self, "valid_from", _time(self.valid_from, "valid_from"))
        if self.valid_until is not None:
            until = _time(self.valid_until, "valid_until")
            if until <= self.valid_from:
                raise InvalidInput("valid_until must be after valid_from", details={"field": "valid_until"})
            object.__setattr__(self, "valid_until", until)
        object.__setattr__(self, "categories", _names(self.categories, "categories"))
        object.__setattr__(self, "fields", _names(self.fields, "fields"))
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise InvalidInput("version must be a positive integer", details={"field": "version"})
        if not isinstance(self.may_reshare, bool) or not isinstance(self.revoked, bool):
            raise InvalidInput("may_reshare and revoked must be booleans", details={"field": "may_reshare"})

    def status_at(self, at: datetime) -> AgreementStatus:
        if self.revoked:
            return "revoked"
        if at < self.valid_from:
            return "not-yet-valid"
        if self.valid_until is not None and at >= self.valid_until:
            return "expired"
        return "in-force"

    def in_force_at(self, at: datetime) -> bool:
        return self.status_at(at) == "in-force"

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "owner": self.owner,
            "partner": self.partner,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "categories": sorted(self.categories),
            "fields": sorted(self.fields),
            "may_reshare": self.may_reshare,
            "version": self.version,
            "revoked": self.revoked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agreement:
        if not isinstance(data, Mapping):
            raise InvalidInput("an agreement must be an object", details={"field": "agreement"})
        try:
            return cls(
                agreement_id=data["agreement_id"],
                owner=data["owner"],
                partner=data["partner"],
                valid_from=_time(data["valid_from"], "valid_from"),
                valid_until=None
                if data.get("valid_until") is None
                else _time(data["valid_until"], "valid_until"),
                categories=data.get("categories", ()),
                fields=data.get("fields", ()),
                may_reshare=data.get("may_reshare", False),
                version=data.get("version", 1),
                revoked=data.get("revoked", False),
            )
        except KeyError as exc:
            raise InvalidInput(
                f"agreement is missing {exc.args[0]!r}", details={"field": exc.args[0]}
            ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementVocabulary:
    """What a deployment accepts in an agreement: known agencies, categories and sensitive fields."""

    agencies: frozenset[str]
    categories: frozenset[str] = DEFAULT_CATEGORIES
    fields: frozenset[str] = DEFAULT_FIELDS

    def validate(self, agreement: Agreement) -> Agreement:
        for name in ("owner", "partner"):
            code = getattr(agreement, name)
            if code not in self.agencies:
                raise InvalidInput(f"unknown agency {code!r}", details={"field": name, "value": code})
        unknown = sorted(agreement.categories - self.categories)
        if unknown:
            raise InvalidInput(
                f"unknown categories: {', '.join(unknown)}",
                details={"field": "categories", "unknown": unknown},
            )
        unknown = sorted(agreement.fields - self.fields)
        if unknown:
            raise InvalidInput(
                f"unknown fields: {', '.join(unknown)}", details={"field": "fields", "unknown": unknown}
            )
        return agreement


@dataclass(frozen=True, slots=True, kw_only=True)
class _AgreementVersion:
    """An event carrying a whole version of an agreement (signed or amended)."""

    agreement: Agreement
    occurred_at: datetime

    event_type: ClassVar[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", _time(self.occurred_at, "occurred_at"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.event_type,
            "agreement": self.agreement.to_dict(),
            "occurred_at": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            agreement=Agreement.from_dict(_get(data, "agreement")),
            occurred_at=_time(_get(data, "occurred_at"), "occurred_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementSigned(_AgreementVersion):
    """An owner agency signed a new agreement with a partner (its first version)."""

    event_type: ClassVar[str] = "AgreementSigned"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementAmended(_AgreementVersion):
    """An agreement was replaced by its next version (same id, owner and partner)."""

    event_type: ClassVar[str] = "AgreementAmended"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementRevoked:
    """An agreement was revoked; from now on it releases nothing."""

    agreement_id: str
    occurred_at: datetime
    reason: str = ""

    event_type: ClassVar[str] = "AgreementRevoked"

    def __post_init__(self) -> None:
        _text(self.agreement_id, "agreement_id")
        object.__setattr__(self, "occurred_at", _time(self.occurred_at, "occurred_at"))
        if not isinstance(self.reason, str) or len(self.reason) > 2000:
            raise InvalidInput("reason must be text of at most 2000 characters", details={"field": "reason"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.event_type,
            "agreement_id": self.agreement_id,
            "occurred_at": self.occurred_at.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgreementRevoked:
        return cls(
            agreement_id=_get(data, "agreement_id"),
            occurred_at=_time(_get(data, "occurred_at"), "occurred_at"),
            reason=data.get("reason", ""),
        )


AgreementEvent = AgreementSigned | AgreementAmended | AgreementRevoked

_EVENT_TYPES: dict[str, type[AgreementSigned] | type[AgreementAmended] | type[AgreementRevoked]] = {
    "AgreementSigned": AgreementSigned,
    "AgreementAmended": AgreementAmended,
    "AgreementRevoked": AgreementRevoked,
}


def _get(data: Mapping[str, Any], key: str) -> Any:
    if not isinstance(data, Mapping):
        raise InvalidInput("an agreement event must be an object", details={"field": "event"})
    try:
        return data[key]
    except KeyError as exc:
        raise InvalidInput(f"agreement event is missing {key!r}", details={"field": key}) from exc


def agreement_event_from_dict(data: Mapping[str, Any]) -> AgreementEvent:
    """Rebuild any agreement event from its ``to_dict`` form (dispatching on ``type``)."""
    kind = _get(data, "type")
    cls = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidInput(f"unknown agreement event type {kind!r}", details={"field": "type"})
    return cls.from_dict(data)


@dataclass(frozen=True, slots=True)
class AgreementSet:
    """The current version of every agreement, with a version number bumped by each change.

    Immutable: :meth:`apply` returns a new set. ``boundaries`` lists every date at which some
    agreement starts or ends, so a cache can tell when time has moved an agreement in or out of force.
    """

    agreements: Mapping[str, Agreement] = field(default_factory=dict)
    version: int = 0
    _pairs: Mapping[tuple[str, str], tuple[Agreement, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _boundaries: tuple[datetime, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        agreements = dict(self.agreements)
        pairs: dict[tuple[str, str], list[Agreement]] = {}
        bounds: set[datetime] = set()
        for agreement_id, agreement in agreements.items():
            if agreement_id != agreement.agreement_id:
                raise InvalidInput(
                    f"agreement stored under the wrong id {agreement_id!r}", details={"field": "agreement_id"}
                )
            pairs.setdefault((agreement.owner, agreement.partner), []).append(agreement)
            bounds.add(agreement.valid_from)
            if agreement.valid_until is not None:
                bounds.add(agreement.valid_until)
        object.__setattr__(self, "agreements", agreements)
        object.__setattr__(
            self,
            "_pairs",
            {pair: tuple(sorted(items, key=lambda a: a.agreement_id)) for pair, items in pairs.items()},
        )
        object.__setattr__(self, "_boundaries", tuple(sorted(bounds)))

    @classmethod
    def of(cls, agreements: Iterable[Agreement], version: int = 1) -> AgreementSet:
        """A set holding ``agreements`` (ids must be unique), e.g. for tests and dry runs."""
        table: dict[str, Agreement] = {}
        for agreement in agreements:
            if agreement.agreement_id in table:
                raise Conflict(
                    f"agreement {agreement.agreement_id!r} appears twice", details={"field": "agreement_id"}
                )
            table[agreement.agreement_id] = agreement
        return cls(agreements=table, version=version)

    @classmethod
    def from_events(cls, events: Iterable[AgreementEvent]) -> AgreementSet:
        """Replay journalled agreement events, oldest first."""
        current = cls()
        for event in events:
            current = current.apply(event)
        return current

    @property
    def boundaries(self) -> tuple[datetime, ...]:
        return self._boundaries

    def between(self, owner: str, partner: str) -> tuple[Agreement, ...]:
        """Every agreement (any status) from ``owner`` to ``partner``, by id."""
        return self._pairs.get((owner, partner), ())

    def get(self, agreement_id: str) -> Agreement:
        try:
            return self.agreements[agreement_id]
        except KeyError:
            raise NotFound(f"no agreement {agreement_id!r}", details={"field": "agreement_id"}) from None

    def apply(self, event: AgreementEvent) -> AgreementSet:
        """The set after ``event``; refuses events that do not fit the current state."""
        table = dict(self.agreements)
        if isinstance(event, AgreementSigned):
            new = event.agreement
            if new.agreement_id in table:
                raise Conflict(
                    f"agreement {new.agreement_id!r} already exists", details={"field": "agreement_id"}
                )
            if new.revoked:
                raise InvalidInput("a new agreement cannot be signed revoked", details={"field": "revoked"})
            table[new.agreement_id] = new
        elif isinstance(event, AgreementAmended):
            new = event.agreement
            old = self.get(new.agreement_id)
            if old.revoked:
                raise Conflict(
                    f"agreement {new.agreement_id!r} is revoked", details={"field": "agreement_id"}
                )
            if (new.owner, new.partner) != (old.owner, old.partner):
                raise Conflict("an amendment keeps the owner and partner", details={"field": "partner"})
            if new.version != old.version + 1:
                raise Conflict(
                    f"amendment must be version {old.version + 1}, not {new.version}",
                    details={"field": "version", "current": old.version},
                )
            if new.revoked:
                raise InvalidInput("use AgreementRevoked to revoke", details={"field": "revoked"})
            table[new.agreement_id] = new
        else:
            old = self.get(event.agreement_id)
            if old.revoked:
                raise Conflict(
                    f"agreement {event.agreement_id!r} is already revoked", details={"field": "agreement_id"}
                )
            table[old.agreement_id] = replace(old, revoked=True, version=old.version + 1)
        return AgreementSet(agreements=table, version=self.version + 1)
