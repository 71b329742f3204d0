"""The release rules of docs/security.md restated in plain Python, independently of the Cedar files.

The gate's property tests and the leak suite compare what Concord releases with what this says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from concord.domain.agreement import AgreementSet
from concord.domain.identity import Role, Viewer
from concord.domain.marking import DEFAULT_LADDER, Tlp
from concord.sharing import DEFAULT_FIELD_CATEGORIES, Shareable


@dataclass(frozen=True)
class Expected:
    decision: str
    reasons: frozenset[str]
    redacted: dict[str, frozenset[str]]

    @property
    def visible(self) -> bool:
        return self.decision != "withheld"


def reference(
    record: Shareable,
    viewer: Viewer,
    agreements: AgreementSet,
    session: bool,
    *,
    at: datetime,
    agency_kinds: Mapping[str, str],
    field_categories: Mapping[str, str] = DEFAULT_FIELD_CATEGORIES,
) -> Expected:
    m = record.marking
    levels = DEFAULT_LADDER.levels
    if m.classification not in levels:
        return Expected("withheld", frozenset({"invalid-marking"}), {})
    classification = levels.index(m.classification)
    clearance = levels.index(viewer.clearance) if viewer.clearance in levels else -1
    own = viewer.agency == m.originator
    auditor = Role.AUDITOR in viewer.roles
    own_auditor = auditor and own
    community = not m.categories and m.tlp in (Tlp.CLEAR, Tlp.GREEN)
    in_force = [a for a in agreements.between(m.originator, viewer.agency) if a.in_force_at(at)]
    covered_categories = frozenset().union(*(a.categories for a in in_force))
    covered_fields = frozenset().union(*(a.fields for a in in_force))
    statuses = {a.status_at(at) for a in agreements.between(m.originator, viewer.agency)}
    carried = {field_categories.get(n, "") for n in record.fields} - {""}
    whole = m.categories - carried
    immigration = agency_kinds.get(viewer.agency) == "immigration"

    reasons: set[str] = set()
    if record.exercise != session:
        reasons.add("exercise-separation")
    if clearance < classification and not own_auditor:
        reasons.add("above-clearance")
    if not own:
        if viewer.agency not in m.rel_to:
            reasons.add("not-releasable")
        if m.tlp is Tlp.AMBER_STRICT or (m.tlp is Tlp.RED and viewer.user_id not in m.recipients):
            reasons.add("tlp")
        if not in_force and not community:
            for status in ("revoked", "expired", "not-yet-valid"):
                if status in statuses:
                    reasons.add(f"agreement-{status}")
                    break
            else:
                reasons.add("no-agreement")
        if "INTEL-SOURCE" in whole or ("BIOMETRIC" in whole and not immigration):
            reasons.add("category-forbidden")
        if not whole <= covered_categories:
            reasons.add("category-not-covered")
    if not whole <= viewer.categories and not own_auditor:
        reasons.add("need-to-know")
    permitted = own or bool(in_force) or community
    if reasons or not permitted:
        return Expected("withheld", frozenset(reasons or {"not-permitted"}), {})

    redacted: dict[str, frozenset[str]] = {}
    for name in record.fields:
        category = field_categories.get(name, "")
        why: set[str] = set()
        if clearance < classification:
            why.add("above-clearance")
        if auditor and not whole <= viewer.categories:
            why.add("need-to-know")
        if category and not own:
            if category == "INTEL-SOURCE" or (category == "BIOMETRIC" and not immigration):
                why.add("category-forbidden")
            if category not in covered_categories:
                why.add("category-not-covered")
            if name not in covered_fields:
                why.add("field-not-releasable")
        if category and category not in viewer.categories:
            why.add("need-to-know")
        if why:
            redacted[name] = frozenset(why)
    decision = "redacted" if redacted else "full"
    return Expected(decision, frozenset(r for v in redacted.values() for r in v), redacted)
