"""The release gate: the only way a record leaves Concord.

``ReleaseGate.release(record, viewer, at)`` answers with the whole record, a redacted copy, or
nothing, as the Cedar release policies decide (forbid rules win). Decisions are cached per record
shape (marking, exercise flag, field names and categories), viewer profile (agency, roles, clearance,
categories), agreement-set version and agreement period (which agreements are in force at ``at``),
so the gate is not the bottleneck; a new agreement set (a revocation, say) changes the version and
no older decision is served again.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import cedarpy

from concord.domain.agreement import AgreementEvent, AgreementSet
from concord.domain.errors import Conflict, InvalidInput
from concord.domain.identity import Agency, Viewer
from concord.domain.marking import DEFAULT_LADDER, ClassificationLadder, Tlp
from concord.sharing._outcome import (
    _GATE_TOKEN,
    DenyReason,
    Explanation,
    FieldRedaction,
    Full,
    Redacted,
    Released,
    ReleaseResult,
    Withheld,
)
from concord.sharing._policies import ReleasePolicies
from concord.sharing._records import Shareable

__all__ = ["PLAIN_FIELDS", "AgreementState", "ReleaseGate", "Visible", "VisiblePage"]

Visible = Released[Full] | Released[Redacted]

#: The policy id named when a marking cannot be decided on (its classification is not on the ladder).
MARKING_VALIDATION: Final = "marking-validation"
#: The name the policies see for the fields that carry no need-to-know category.
PLAIN_FIELDS: Final = "*"

_FULL, _REDACTED, _WITHHELD = 0, 1, 2


@dataclass(frozen=True, slots=True)
class AgreementState:
    """What the agreements from one originator to one partner allow at one time."""

    status: str  # "own", "in-force", "none", "revoked", "expired", "not-yet-valid"
    categories: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()
    agreement_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: int
    removed: frozenset[str]
    removed_order: tuple[str, ...]
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class _State:
    agreements: AgreementSet
    boundaries: tuple[datetime, ...]


@dataclass(frozen=True, slots=True)
class VisiblePage:
    """One page of released records and the count of all released ones (withheld never counted)."""

    items: tuple[Visible, ...]
    total: int


def agreement_state(agreements: AgreementSet, originator: str, partner: str, at: datetime) -> AgreementState:
    """Combine every agreement from ``originator`` to ``partner``: those in force add up."""
    if originator == partner:
        return AgreementState("own")
    found = agreements.between(originator, partner)
    if not found:
        return AgreementState("none")
    statuses = [(a, a.status_at(at)) for a in found]
    in_force = [a for a, status in statuses if status == "in-force"]
    if in_force:
        return AgreementState(
            "in-force",
            frozenset().union(*(a.categories for a in in_force)),
            frozenset().union(*(a.fields for a in in_force)),
            tuple(a.agreement_id for a in in_force),
        )
    seen = {status for _, status in statuses}
    for status in ("revoked", "expired", "not-yet-valid"):
        if status in seen:
            return AgreementState(status)
    return AgreementState("none")  # pragma: no cover - every status is one of the above


class ReleaseGate:
    """Decides, for one record, one viewer and one time, what (if anything) the viewer receives."""

    def __init__(
        self,
        *,
        policies: ReleasePolicies,
        agencies: Iterable[Agency],
        agreements: AgreementSet | None = None,
        ladder: ClassificationLadder = DEFAULT_LADDER,
        cache_size: int = 200_000,
    ) -> None:
        self._policies = policies
        self._agency_kinds: dict[str, str] = {a.code: a.kind.value for a in agencies}
        self._ladder = ladder
        self._ranks = {level: i for i, level in enumerate(ladder.levels)}
        self._cache_size = max(0, cache_size)
        self._cache: dict[tuple[Any, ...], _Plan] = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        agreements = agreements if agreements is not None else AgreementSet()
        self._state = _State(agreements, agreements.boundaries)

    # -- agreements -------------------------------------------------------------------------------

    @property
    def agreements(self) -> AgreementSet:
        return self._state.agreements

    @property
    def policies(self) -> ReleasePolicies:
        return self._policies

    @property
    def agencies(self) -> Mapping[str, str]:
        """Agency code to kind (``immigration``, ``customs``, ...)."""
        return dict(self._agency_kinds)

    @property
    def ladder(self) -> ClassificationLadder:
        return self._ladder

    def update_agreements(self, agreements: AgreementSet) -> None:
        """Switch to a newer agreement set; decisions made under older ones are never served again."""
        with self._lock:
            if agreements.version < self._state.agreements.version:
                raise Conflict(
                    f"agreement set version {agreements.version} is older than the current "
                    f"{self._state.agreements.version}",
                    details={"field": "version"},
                )
            self._state = _State(agreements, agreements.boundaries)
            self._cache.clear()

    def update_agencies(self, agencies: Iterable[Agency]) -> None:
        """Replace the agency directory (codes and kinds); cached decisions are dropped."""
        kinds = {a.code: a.kind.value for a in agencies}
        with self._lock:
            self._agency_kinds = kinds
            self._cache.clear()

    def apply(self, event: AgreementEvent) -> AgreementSet:
        """Apply a journalled agreement event (signed, amended, revoked) and return the new set."""
        with self._lock:
            updated = self._state.agreements.apply(event)
            self._state = _State(updated, updated.boundaries)
            self._cache.clear()
        return updated

    def cache_info(self) -> dict[str, int]:
        return {"hits": self._hits, "misses": self._misses, "size": len(self._cache)}

    # -- deciding ----------------------------------------------------------------------------------

    def _plan(self, record: Shareable, viewer: Viewer, at: datetime, exercise_session: bool) -> _Plan:
        if at.tzinfo is None:
            raise InvalidInput("release time must be timezone-aware", details={"field": "at"})
        state = self._state
        marking = record.marking
        named = marking.tlp is Tlp.RED and viewer.user_id in marking.recipients
        key = (
            record._shape,
            viewer.agency,
            viewer.roles,
            viewer.clearance,
            viewer.categories,
            named,
            exercise_session,
            state.agreements.version,
            bisect_right(state.boundaries, at),
        )
        plan = self._cache.get(key)
        if plan is not None:
            self._hits += 1
            return plan
        self._misses += 1
        plan = self._decide(record, viewer, at, exercise_session, named, state.agreements)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                # A full cache starts again rather than tracking recency: misses are cheap enough.
                self._cache.clear()
            self._cache[key] = plan
        return plan

    def _decide(
        self,
        record: Shareable,
        viewer: Viewer,
        at: datetime,
        exercise_session: bool,
        named: bool,
        agreements: AgreementSet,
    ) -> _Plan:
        marking = record.marking
        classification = self._ranks.get(marking.classification)
        if classification is None:
            explanation = Explanation(
                decision="withheld",
                policy_ids=(MARKING_VALIDATION,),
                deny_reasons=("invalid-marking",),
                redacted=(),
            )
            return _Plan(_WITHHELD, frozenset(), (), explanation)
        state = agreement_state(agreements, marking.originator, viewer.agency, at)
        context = {
            "exercise_session": exercise_session,
            "named_recipient": named,
            "agreement": {
                "status": "none" if state.status == "own" else state.status,
                "categories": sorted(state.categories),
                "fields": sorted(state.fields),
            },
        }
        record_uid = {"type": "Concord::Record", "id": "record"}
        entities: list[dict[str, Any]] = [
            {
                "uid": {"type": "Concord::User", "id": "viewer"},
                "attrs": {
                    "agency": viewer.agency,
                    "agency_kind": self._agency_kinds.get(viewer.agency, "unknown"),
                    "clearance": self._ranks.get(viewer.clearance, -1),
                    "categories": sorted(viewer.categories),
                    "roles": sorted(str(r) for r in viewer.roles),
                },
                "parents": [],
            },
            {
                "uid": record_uid,
                "attrs": {
                    "kind": record.kind,
                    "originator": marking.originator,
                    "rel_to": sorted(marking.rel_to),
                    "classification": classification,
                    "tlp": marking.tlp.value,
                    "categories": sorted(marking.categories),
                    "record_categories": sorted(record.record_categories),
                    "exercise": record.exercise,
                },
                "parents": [],
            },
        ]
        sensitive = sorted((name, cat) for name, cat in record._shape.key[2] if cat)
        plain = sorted(name for name, cat in record._shape.key[2] if not cat)
        probes: list[tuple[str, str]] = list(sensitive)
        if plain:
            probes.append((PLAIN_FIELDS, ""))
        requests = [self._request("view", record_uid, context)]
        for index, (name, category) in enumerate(probes):
            uid = {"type": "Concord::Field", "id": f"f{index}"}
            entities.append(
                {
                    "uid": uid,
                    "attrs": {"name": name, "category": category, "record": {"__entity": record_uid}},
                    "parents": [],
                }
            )
            requests.append(self._request("view-field", uid, context))
        results = cedarpy.is_authorized_batch(requests, self._policies.policy_set, json.dumps(entities))
        allowed, policy_ids, reasons = self._read(results[0])
        if not allowed:
            explanation = Explanation(
                decision="withheld", policy_ids=policy_ids, deny_reasons=reasons, redacted=()
            )
            return _Plan(_WITHHELD, frozenset(), (), explanation)
        redactions: list[FieldRedaction] = []
        kept_categories = set(record.record_categories)
        for (name, category), result in zip(probes, results[1:], strict=True):
            field_allowed, field_policies, field_reasons = self._read(result)
            if field_allowed:
                if category:
                    kept_categories.add(category)
                continue
            names = plain if name == PLAIN_FIELDS else [name]
            for field_name in names:
                redactions.append(
                    FieldRedaction(
                        field=field_name,
                        category=category or None,
                        reasons=field_reasons,
                        policy_ids=field_policies,
                    )
                )
        redactions.sort(key=lambda r: r.field)
        removed = tuple(r.field for r in redactions)
        explanation = Explanation(
            decision="redacted" if removed else "full",
            policy_ids=policy_ids,
            deny_reasons=tuple(sorted({reason for r in redactions for reason in r.reasons})),
            redacted=tuple(redactions),
            agreement_ids=state.agreement_ids,
            categories=tuple(sorted(kept_categories)),
        )
        return _Plan(_REDACTED if removed else _FULL, frozenset(removed), removed, explanation)

    @staticmethod
    def _request(action: str, resource: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        return {
            "principal": {"type": "Concord::User", "id": "viewer"},
            "action": {"type": "Concord::Action", "id": action},
            "resource": resource,
            "context": context,
        }

    def _read(self, result: cedarpy.AuthzResult) -> tuple[bool, tuple[str, ...], tuple[DenyReason, ...]]:
        """Turn a Cedar answer into (allowed, deciding policy ids, deny reasons), failing closed."""
        diagnostics = result.diagnostics
        names = diagnostics.id_annotations_by_reason
        policy_ids = tuple(sorted(names.get(p, p) for p in diagnostics.reasons))
        if diagnostics.errors:
            # A policy that fails to evaluate might have been a forbid: never release on an error.
            return False, policy_ids, ("not-permitted",)
        if result.allowed:
            return True, policy_ids, ()
        reasons = tuple(
            sorted({self._policies.reasons[p] for p in policy_ids if p in self._policies.reasons})
        )
        return False, policy_ids, reasons or ("not-permitted",)

    # -- the public doors --------------------------------------------------------------------------

    def release(
        self, record: Shareable, viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> ReleaseResult:
        """What ``viewer`` may receive of ``record`` at ``at``: Released (full or redacted) or Withheld.

        ``exercise_session`` says whether the viewer is working in a drill: exercise records are
        released only into exercise sessions, live records only into live ones.
        """
        plan = self._plan(record, viewer, at, exercise_session)
        kind = plan.kind
        if kind == _FULL:
            return Released(
                Full(record), viewer=viewer, at=at, explanation=plan.explanation, token=_GATE_TOKEN
            )
        if kind == _REDACTED:
            return Released(
                Redacted(record.without(plan.removed), plan.removed_order),
                viewer=viewer,
                at=at,
                explanation=plan.explanation,
                token=_GATE_TOKEN,
            )
        return Withheld(
            record_kind=record.kind,
            record_id=record.record_id,
            marking=record.marking,
            exercise=record.exercise,
            viewer=viewer,
            at=at,
            explanation=plan.explanation,
        )

    def explain(
        self, record: Shareable, viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> Explanation:
        """Why the gate decides as it does for this record, viewer and time (the same decision)."""
        return self._plan(record, viewer, at, exercise_session).explanation

    def release_many(
        self, records: Iterable[Shareable], viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> list[Visible]:
        """Only the records released to ``viewer``, in order: count, page and aggregate after this."""
        out: list[Visible] = []
        for record in records:
            result = self.release(record, viewer, at, exercise_session=exercise_session)
            if not isinstance(result, Withheld):
                out.append(result)
        return out

    def count_visible(
        self, records: Iterable[Shareable], viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> int:
        """How many of ``records`` the viewer may see (withheld ones are not counted)."""
        return sum(
            1 for record in records if self._plan(record, viewer, at, exercise_session).kind != _WITHHELD
        )

    def page_visible(
        self,
        records: Sequence[Shareable] | Iterable[Shareable],
        viewer: Viewer,
        at: datetime,
        *,
        offset: int = 0,
        limit: int = 50,
        exercise_session: bool = False,
    ) -> VisiblePage:
        """A page of released records; offsets and totals count released records only."""
        if offset < 0 or limit < 0:
            raise InvalidInput("offset and limit must not be negative", details={"field": "offset"})
        visible = self.release_many(records, viewer, at, exercise_session=exercise_session)
        return VisiblePage(items=tuple(visible[offset : offset + limit]), total=len(visible))
