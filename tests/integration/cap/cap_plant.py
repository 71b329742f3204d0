"""Planting alerts for the CAP API tests: journalled exactly as the picture service journals them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from concord.bootstrap import Concord
from concord.domain.alert import Alert, AlertKind, AlertRaised, AlertUpdated, ImpactLevel
from concord.domain.events import envelope
from concord.domain.marking import Marking, Tlp


def make_alert(alert_id: str, at: datetime, marking: Marking, **changes: Any) -> Alert:
    alert = Alert(
        id=alert_id,
        kind=AlertKind.BORDER_CROSSING,
        dedup_key=f"border-crossing:{alert_id}",
        episode=1,
        raised_at=at,
        updated_at=at,
        impact=ImpactLevel.HIGH,
        confidence=0.8,
        track_ids=(f"T-{alert_id}",),
        zone_ids=("section-1",),
        lat=41.3,
        lon=26.5,
        marking=marking,
        summary=f"crossing CANARY-{alert_id}",
        evidence={"speed_mps": 1.4},
    )
    return replace(alert, **changes)


def plant(concord: Concord, *events: AlertRaised | AlertUpdated) -> None:
    """Append alert events in one unit of work, as ``PictureService`` does (projections follow)."""
    with concord.uow() as uow:
        for event in events:
            alert = event.alert
            uow.append(
                envelope(
                    type(event).__name__,
                    event.to_dict(),
                    at=alert.updated_at,
                    actor="rules",
                    agency=alert.marking.originator,
                    marking=alert.marking,
                    exercise=alert.exercise,
                )
            )
        uow.commit()


def plant_alert(concord: Concord, alert: Alert) -> Alert:
    plant(concord, AlertRaised(alert=alert))
    return alert


def update_alert(concord: Concord, alert: Alert, *, minutes: float, ended: bool = False) -> Alert:
    at = alert.updated_at + timedelta(minutes=minutes)
    updated = replace(
        alert, updated_at=at, update_count=alert.update_count + 1, ended_at=at if ended else None
    )
    plant(concord, AlertUpdated(alert=updated, reason="ended" if ended else "folded"))
    return updated


def shared_marking(originator: str = "BP", *partners: str, tlp: Tlp = Tlp.AMBER) -> Marking:
    return Marking(classification="RESTRICTED", originator=originator, rel_to=frozenset(partners), tlp=tlp)
