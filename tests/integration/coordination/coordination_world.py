"""A world for coordination tests: agencies BP, CG, CUS and JOC, their users, zones, and alerts."""

from __future__ import annotations

import json
from typing import Any

from concord.adapters import records_store
from concord.bootstrap import Concord
from concord.domain.alert import Alert, AlertRaised
from concord.domain.events import envelope
from concord.domain.marking import Marking, Tlp
from concord.domain.record import RecordRow

PASSWORD = "correct horse battery"
AGENCIES = (
    ("BP", "Border Police", "border-police"),
    ("CG", "Coast Guard", "coast-guard"),
    ("CUS", "Customs", "customs"),
    ("JOC", "Joint Operations Centre", "other"),
)


def world(concord: Concord) -> None:
    """Each agency gets an operator, an analyst and a commander (and the JOC an admin)."""
    accounts = concord.accounts
    for code, name, kind in AGENCIES:
        accounts.create_agency(code, name, kind)
        low = code.lower()
        accounts.create_user(f"{low}.op", code, ["operator"], "RESTRICTED", password=PASSWORD)
        accounts.create_user(f"{low}.an", code, ["analyst"], "RESTRICTED", password=PASSWORD)
        accounts.create_user(f"{low}.cmd", code, ["commander"], "SECRET", password=PASSWORD)
    accounts.create_user("cg.op2", "CG", ["operator"], "RESTRICTED", password=PASSWORD)


def _square(lon: float, lat: float, half_deg: float) -> list[list[list[float]]]:
    return [
        [
            [lon - half_deg, lat - half_deg],
            [lon + half_deg, lat - half_deg],
            [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg],
            [lon - half_deg, lat - half_deg],
        ]
    ]


def feature(zone_id: str, kind: str, coords: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": coords},
        "properties": {"id": zone_id, "name": zone_id, "kind": kind, **props},
    }


SEA = (26.80, 41.00)  # open sea: CG only
HARBOUR = (26.75, 41.16)  # harbour approaches: CG sea AOR and CUS port AOR overlap
LAND = (26.45, 41.40)  # land border: BP
NOWHERE = (20.0, 30.0)  # no AOR


def zones_geojson() -> dict[str, Any]:
    """A coast: territorial sea with a CG AOR, a port with a CUS AOR overlapping it, and BP land."""
    return {
        "type": "FeatureCollection",
        "features": [
            feature("ts", "territorial-sea", _square(26.8, 41.05, 0.2)),
            feature("aor-cg", "aor", _square(26.8, 41.05, 0.2), agency="CG"),
            feature("port-x", "port", _square(HARBOUR[0], HARBOUR[1], 0.03)),
            feature("aor-cus", "aor", _square(HARBOUR[0], HARBOUR[1], 0.03), agency="CUS"),
            feature("aor-bp", "aor", _square(LAND[0], LAND[1], 0.1), agency="BP"),
        ],
    }


def import_zones(concord: Concord, geojson: dict[str, Any] | None = None) -> None:
    concord.zones.import_geojson(json.dumps(geojson or zones_geojson()), actor="test", agency="JOC")


def raise_alert(
    concord: Concord,
    alert_id: str,
    *,
    kind: str = "rendezvous",
    where: tuple[float, float] = SEA,
    impact: str = "high",
    marking: Marking | None = None,
    exercise: bool = False,
) -> RecordRow:
    """Journal an AlertRaised as the picture does, and announce it to the picture's listeners."""
    now = concord.clock.now()
    mark = marking or Marking(classification="RESTRICTED", originator="CG", tlp=Tlp.AMBER)
    alert = Alert(
        id=alert_id,
        kind=kind,  # type: ignore[arg-type]
        dedup_key=alert_id,
        episode=1,
        raised_at=now,
        updated_at=now,
        impact=impact,  # type: ignore[arg-type]
        confidence=0.9,
        track_ids=("trk-1",),
        zone_ids=(),
        lat=where[1],
        lon=where[0],
        marking=mark,
        summary=f"{kind} test alert",
        exercise=exercise,
    )
    with concord.uow() as uow:
        uow.append(
            envelope(
                "AlertRaised",
                AlertRaised(alert=alert).to_dict(),
                at=now,
                actor="rules",
                agency=mark.originator,
                marking=mark,
                exercise=exercise,
            )
        )
        uow.commit()
    with concord.engine.connect() as conn:
        stored = records_store.get_record(conn, "alert", alert_id)
    assert stored is not None
    concord.picture.announce([stored])
    return stored


def user(concord: Concord, username: str) -> Any:
    return concord.accounts.get_user_by_username(username)
