"""Capability and gap assessment: what each agency fields, and which border sections are weakest.

Pure: give it the border sections (lon/lat geometry), the sensor reports of the period, the units and
the alerts (with their acknowledgement times, from the KPIs), and it tallies per agency sensors, units,
reports and response times, and per section how many sensors reported near it, how many alerts it had
and how fast they were acknowledged. A section is weak when few sensors cover it and its alerts wait.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from concord.drills.kpis import AlertFacts

__all__ = ["CapabilityReport", "SensorReport", "assess_capability"]

NEAR_DEG = 0.03  # about 3 km: a report this close to a section counts as watching it


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorReport:
    agency: str
    sensor: str
    source: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityReport:
    agencies: dict[str, dict[str, Any]]
    sections: list[dict[str, Any]]
    weakest: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"agencies": self.agencies, "sections": self.sections, "weakest": self.weakest}


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def assess_capability(
    sections: Sequence[tuple[str, str, str | None, BaseGeometry]],
    reports: Sequence[SensorReport],
    units: Sequence[str],
    alerts: Sequence[AlertFacts],
    *,
    weakest: int = 3,
) -> CapabilityReport:
    """``sections``: (id, name, impact level, geometry); ``units``: the agency of each unit."""
    per_agency: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"sensors": defaultdict(set), "reports": 0, "units": 0, "ack_s": []}
    )
    for r in reports:
        entry = per_agency[r.agency]
        entry["sensors"][r.sensor].add(r.source)
        entry["reports"] += 1
    for agency in units:
        per_agency[agency]["units"] += 1
    for a in alerts:
        if a.acknowledged_at is not None:
            per_agency[a.agency]["ack_s"].append((a.acknowledged_at - a.raised_at).total_seconds())
        else:
            per_agency[a.agency]
    agencies: dict[str, dict[str, Any]] = {}
    for agency, e in sorted(per_agency.items()):
        raised = sum(1 for a in alerts if a.agency == agency)
        agencies[agency] = {
            "sensors": {k: len(v) for k, v in sorted(e["sensors"].items())},
            "reports": e["reports"],
            "units": e["units"],
            "alerts": raised,
            "acknowledged_share": round(len(e["ack_s"]) / raised, 4) if raised else None,
            "mean_time_to_acknowledge_s": _mean(e["ack_s"]),
        }

    geoms = [g for _, _, _, g in sections]
    tree = STRtree(geoms) if geoms else None
    sources: dict[int, set[str]] = defaultdict(set)
    counts: dict[int, int] = defaultdict(int)
    if tree is not None:
        points = [Point(r.lon, r.lat) for r in reports]
        if points:
            pairs = tree.query(points, predicate="dwithin", distance=NEAR_DEG)
            for p_idx, s_idx in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
                counts[s_idx] += 1
                sources[s_idx].add(reports[p_idx].source)
    out_sections: list[dict[str, Any]] = []
    for idx, (sid, name, impact, geom) in enumerate(sections):
        near = [a for a in alerts if geom.distance(Point(a.lon, a.lat)) <= NEAR_DEG]
        acks = [
            (a.acknowledged_at - a.raised_at).total_seconds() for a in near if a.acknowledged_at is not None
        ]
        unacked = sum(1 for a in near if a.acknowledged_at is None)
        sensors = len(sources[idx])
        mean_ack = _mean(acks)
        # Fewer sensors and slower or missing acknowledgements make a section weaker (lower score).
        score = sensors - math.log1p(mean_ack or 0.0) / 10.0 - unacked
        out_sections.append(
            {
                "id": sid,
                "name": name,
                "impact_level": impact,
                "sensors": sensors,
                "reports": counts[idx],
                "alerts": len(near),
                "unacknowledged": unacked,
                "mean_time_to_acknowledge_s": mean_ack,
                "score": round(score, 4),
            }
        )
    ranked = sorted(out_sections, key=lambda s: (s["score"], s["id"]))
    return CapabilityReport(
        agencies=agencies, sections=out_sections, weakest=[s["id"] for s in ranked[:weakest]]
    )
