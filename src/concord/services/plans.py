"""Plans for a viewer: patrol allocation and hotspot forecasts built only from what the viewer may see.

Every input comes through the release gate (``RecordQueries``): the border sections are the zones the
viewer is released, the incident history is the alerts it is released. A joint plan therefore shows each
agency what it may see, and a plan never reveals a withheld alert by its weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from shapely.geometry import Polygon, shape

from concord.domain.errors import InvalidInput
from concord.domain.identity import Viewer
from concord.domain.marking import Marking
from concord.domain.ports import Clock
from concord.drills.report import MapLayer, ReportDoc, map_png
from concord.planning import BorderSection, Grid, PatrolUnits, kde_forecast, plan_patrols
from concord.services.queries import RecordQueries
from concord.sharing import Visible

__all__ = ["HotspotForecast", "PlanService"]

_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON = 111_320.0
MAX_ALERTS = 1000


@dataclass(frozen=True, slots=True)
class HotspotForecast:
    cells: list[dict[str, Any]]
    alerts_used: int
    marking: Marking | None


class PlanService:
    def __init__(self, *, queries: RecordQueries, clock: Clock, origin: tuple[float, float]) -> None:
        self._queries = queries
        self._clock = clock
        self._lat0, self._lon0 = origin

    # -- released inputs ---------------------------------------------------------------------------
    def _alerts(self, viewer: Viewer, since: datetime) -> list[Visible]:
        page = self._queries.page("alert", viewer, limit=MAX_ALERTS)
        out = []
        for released in page.items:
            raised = released.record.fields.get("raised_at")
            if isinstance(raised, str) and datetime.fromisoformat(raised) >= since:
                out.append(released)
        return out

    def _sections(self, viewer: Viewer) -> list[Visible]:
        page = self._queries.page("zone", viewer, status="border-section", limit=1000)
        return sorted(page.items, key=lambda r: r.record.record_id)

    # -- patrols -----------------------------------------------------------------------------------
    def patrols(
        self, viewer: Viewer, units: Sequence[PatrolUnits], *, history_days: float, seed: int
    ) -> dict[str, Any]:
        """The patrol game over the border sections the viewer sees, weighted by its alert history."""
        sections = self._sections(viewer)
        if not sections:
            raise InvalidInput(
                "no border sections are visible to you: import zones first", details={"field": "sections"}
            )
        alerts = self._alerts(viewer, self._clock.now() - timedelta(days=history_days))
        counts: dict[str, int] = {}
        for released in alerts:
            for zone_id in released.record.fields.get("zone_ids") or []:
                counts[str(zone_id)] = counts.get(str(zone_id), 0) + 1
        border = [
            BorderSection(
                section_id=r.record.record_id,
                impact=str(r.record.fields.get("impact_level") or "medium"),
                incidents=counts.get(r.record.record_id, 0),
            )
            for r in sections
        ]
        plan = plan_patrols(border, units)
        out = plan.to_dict()
        out["shift"] = plan.draw_shift(np.random.default_rng(seed))
        out["alerts_used"] = len(alerts)
        markings = [r.record.marking for r in [*sections, *alerts]]
        out["banner"] = _combined(markings).banner() if markings else None
        return out

    def report(
        self, viewer: Viewer, units: Sequence[PatrolUnits], *, history_days: float, seed: int
    ) -> ReportDoc:
        """The patrol plan and the hotspot forecast as one report (HTML or PDF with a map) for ``viewer``."""
        plan = self.patrols(viewer, units, history_days=history_days, seed=seed)
        forecast = self.hotspots(
            viewer, history_days=history_days, cell_m=2_000.0, bandwidth_m=1_500.0, half_life_h=None, top=20
        )
        sections = self._sections(viewer)
        alerts = self._alerts(viewer, self._clock.now() - timedelta(days=history_days))
        zones: list[tuple[str, str, Any]] = [
            (r.record.record_id, "border-section", shape(r.record.fields["geometry"]))
            for r in sections
            if r.record.fields.get("geometry")
        ]
        zones += [(f"hotspot-{c['rank']}", "hotspot", Polygon(c["polygon"])) for c in forecast.cells]
        layer = MapLayer(
            zones=zones,
            alerts=[
                (
                    float(r.record.fields["lon"]),
                    float(r.record.fields["lat"]),
                    str(r.record.fields.get("kind")),
                )
                for r in alerts
            ],
        )
        coverage = plan["coverage"]
        lines = [
            f"{sid}: game {coverage['game'][i]:.2f}"
            + "".join(f", {name} {values[i]:.2f}" for name, values in coverage.items() if name != "game")
            for i, sid in enumerate(plan["sections"])
        ]
        shift = [f"{u['agency']} {u['unit']}: {', '.join(u['sections']) or 'standby'}" for u in plan["shift"]]
        utilities = ", ".join(f"{k} {v:.3f}" for k, v in plan["defender_utility"].items())
        now = self._clock.now()
        return ReportDoc(
            title=f"Patrol plan for {viewer.agency}",
            kind="plan",
            subject=f"next shift, from {history_days:g} days of history",
            viewer=f"{viewer.user_id} ({viewer.agency})",
            generated_at=now,
            exercise=False,
            summary=[
                f"{len(plan['sections'])} border sections, {plan['alerts_used']} alerts you may see",
                f"the attacker's best response is {plan['attacked']}",
                f"expected defender utility: {utilities}",
                f"highest forecast risk: {len(forecast.cells)} cells drawn on the map",
            ],
            sections={"Coverage per section": lines, "This shift": shift},
            map_png=map_png(layer, title="Border sections, alerts and forecast hotspots"),
        )

    # -- hotspots ----------------------------------------------------------------------------------
    def hotspots(
        self,
        viewer: Viewer,
        *,
        history_days: float,
        cell_m: float,
        bandwidth_m: float,
        half_life_h: float | None,
        top: int,
    ) -> HotspotForecast:
        """Kernel-density risk of the next period from the alerts the viewer sees, as grid cells."""
        now = self._clock.now()
        alerts = self._alerts(viewer, now - timedelta(days=history_days))
        if not alerts:
            return HotspotForecast(cells=[], alerts_used=0, marking=None)
        lat = np.array([float(r.record.fields["lat"]) for r in alerts])
        lon = np.array([float(r.record.fields["lon"]) for r in alerts])
        t = np.array([datetime.fromisoformat(str(r.record.fields["raised_at"])).timestamp() for r in alerts])
        x, y = self._to_local(lat, lon)
        margin = 3 * bandwidth_m
        x0, y0 = float(x.min()) - margin, float(y.min()) - margin
        nx = max(1, math.ceil((float(x.max()) + margin - x0) / cell_m))
        ny = max(1, math.ceil((float(y.max()) + margin - y0) / cell_m))
        grid = Grid(x0_m=x0, y0_m=y0, cell_m=cell_m, nx=nx, ny=ny)
        surface = kde_forecast(
            grid,
            t,
            x,
            y,
            now=now.timestamp() + 1.0,
            bandwidth_m=bandwidth_m,
            half_life=None if half_life_h is None else half_life_h * 3600.0,
        )
        order = np.argsort(surface, axis=None)[::-1][:top]
        cells = []
        for rank, flat in enumerate(order.tolist(), start=1):
            row, col = divmod(flat, nx)
            risk = float(surface[row, col])
            if risk <= 0:
                break
            cx0, cy0 = x0 + col * cell_m, y0 + row * cell_m
            corners = [
                (cx0, cy0),
                (cx0 + cell_m, cy0),
                (cx0 + cell_m, cy0 + cell_m),
                (cx0, cy0 + cell_m),
                (cx0, cy0),
            ]
            ring = [list(self._to_geo(cx, cy)) for cx, cy in corners]
            cells.append({"rank": rank, "risk": round(risk, 6), "polygon": ring})
        return HotspotForecast(
            cells=cells, alerts_used=len(alerts), marking=_combined([r.record.marking for r in alerts])
        )

    def _to_local(self, lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any]) -> tuple[Any, Any]:
        # Equirectangular around the region origin: the cells are a few km, the region a few hundred.
        scale = math.cos(math.radians(self._lat0))
        return (lon - self._lon0) * _M_PER_DEG_LON * scale, (lat - self._lat0) * _M_PER_DEG_LAT

    def _to_geo(self, x: float, y: float) -> tuple[float, float]:
        scale = math.cos(math.radians(self._lat0))
        return round(self._lon0 + x / (_M_PER_DEG_LON * scale), 6), round(self._lat0 + y / _M_PER_DEG_LAT, 6)


def _combined(markings: Sequence[Marking]) -> Marking:
    combined = markings[0]
    for m in markings[1:]:
        combined = combined.combine(m)
    return combined
