"""Building blocks for the CAP tests: a release gate, alerts of every kind, and released copies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from concord.domain.alert import Alert, AlertKind, ImpactLevel
from concord.domain.identity import Agency, AgencyKind, Role, Viewer
from concord.domain.marking import Marking, Tlp
from concord.egress.cap import AlertRelease, CapConfig
from concord.services.records import alert_row, shareable_of
from concord.sharing import ReleaseGate, ReleasePolicies, Withheld

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
CONFIG = CapConfig(sender="concord@test-border")
AGENCIES = (
    Agency(code="BP", name="Border Police", kind=AgencyKind.BORDER_POLICE),
    Agency(code="CG", name="Coast Guard", kind=AgencyKind.COAST_GUARD),
)


def make_gate(policies: ReleasePolicies) -> ReleaseGate:
    return ReleaseGate(policies=policies, agencies=AGENCIES)


def viewer(
    agency: str = "BP", *, clearance: str = "SECRET", roles: frozenset[Role] = frozenset({Role.OPERATOR})
) -> Viewer:
    return Viewer(
        user_id=f"{agency.lower()}-user",
        agency=agency,
        roles=roles,
        clearance=clearance,
        categories=frozenset(),
    )


def make_alert(kind: AlertKind = AlertKind.BORDER_CROSSING, **changes: Any) -> Alert:
    alert = Alert(
        id=f"alert-{kind.value}",
        kind=kind,
        dedup_key=f"{kind.value}:T1",
        episode=1,
        raised_at=AT,
        updated_at=AT,
        impact=ImpactLevel.HIGH,
        confidence=0.8,
        track_ids=("T1", "T2"),
        zone_ids=("section-3",),
        lat=41.25,
        lon=26.625,
        marking=Marking(
            classification="RESTRICTED", originator="BP", rel_to=frozenset({"CG"}), tlp=Tlp.AMBER
        ),
        summary=f"{kind.value} by T1 near section 3",
        evidence={"speed_mps": 3.5, "identity": "unknown"},
    )
    return replace(alert, **changes)


def release(gate: ReleaseGate, alert: Alert, who: Viewer, *, at: datetime = AT) -> AlertRelease:
    result = gate.release(
        shareable_of(alert_row(alert, seq=1)), who, at + timedelta(seconds=1), exercise_session=alert.exercise
    )
    assert not isinstance(result, Withheld), result
    return result
