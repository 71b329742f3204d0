"""Builders for rule tests: a local frame (metres east/north of 45N 20E), zones and tracks in it.

The rule tests import this module; conftest puts this folder on sys.path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from concord.domain.alert import AlertRaised, AlertUpdated
from concord.domain.marking import Marking
from concord.domain.observation import TargetKind
from concord.domain.track import Track, TrackStatus
from concord.domain.zone import SectionImpact, Zone, ZoneKind
from concord.rules import LocalProjection, RulesConfig, RulesEngine

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FRAME = LocalProjection(45.0, 20.0)
MARKING = Marking(classification="RESTRICTED", originator="BP", rel_to=frozenset({"BP", "CG"}))


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return FRAME.inverse(x_m, y_m)


def geo(geom: BaseGeometry) -> BaseGeometry:
    """A geometry drawn in local metres, as longitude/latitude."""

    def _inv(coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = coords[:, 0] / FRAME.kx + FRAME.lon0
        out[:, 1] = coords[:, 1] / FRAME.ky + FRAME.lat0
        return out

    return shapely.transform(geom, _inv)


def zone(zone_id: str, kind: ZoneKind, geom_m: BaseGeometry, **kw: Any) -> Zone:
    if kind is ZoneKind.BORDER_SECTION:
        kw.setdefault("impact_level", SectionImpact.MEDIUM)
    if kind is ZoneKind.AOR:
        kw.setdefault("agency", "BP")
    return Zone(id=zone_id, name=kw.pop("name", zone_id), kind=kind, geometry=geo(geom_m), **kw)


def border(zone_id: str = "border-1", x_m: float = 0.0, **kw: Any) -> Zone:
    """A border running north along x = x_m; home (left of the drawing direction) is the west."""
    return zone(zone_id, ZoneKind.BORDER_LINE, shapely.LineString([(x_m, -50_000), (x_m, 50_000)]), **kw)


def box(zone_id: str, kind: ZoneKind, x0: float, y0: float, x1: float, y1: float, **kw: Any) -> Zone:
    return zone(zone_id, kind, shapely.box(x0, y0, x1, y1), **kw)


def track(
    track_id: str,
    x_m: float,
    y_m: float,
    t_s: float,
    *,
    ve: float = 0.0,
    vn: float = 0.0,
    identity: str | None = None,
    target: TargetKind = TargetKind.VESSEL,
    status: TrackStatus = TrackStatus.CONFIRMED,
    marking: Marking = MARKING,
    exercise: bool = False,
    sigma_m: float = 10.0,
) -> Track:
    lon, lat = lonlat(x_m, y_m)
    return Track(
        id=track_id,
        updated_at=T0 + timedelta(seconds=t_s),
        lat=lat,
        lon=lon,
        vel_east_mps=ve,
        vel_north_mps=vn,
        position_sigma_m=sigma_m,
        status=status,
        marking=marking,
        identity=identity,
        target=target,
        exercise=exercise,
    )


EngineFactory = Callable[..., RulesEngine]


def make_engine(zones: Sequence[Zone], config: RulesConfig | None = None, **overrides: Any) -> RulesEngine:
    """An engine over ``zones`` in the test frame; ``overrides`` patch config sections (loitering={...})."""
    cfg = config or RulesConfig()
    if overrides:
        cfg = cfg.model_copy(
            update={
                name: getattr(cfg, name).model_copy(update=values) if isinstance(values, dict) else values
                for name, values in overrides.items()
            }
        )
    return RulesEngine(zones, cfg, projection=FRAME)


def reasons(events: Sequence[AlertRaised | AlertUpdated]) -> list[tuple[str, str | None]]:
    """(event type, update reason) of each event; None for raised alerts."""
    return [(e.type, e.reason if isinstance(e, AlertUpdated) else None) for e in events]


def kinds(events: Sequence[Any]) -> list[tuple[str, str]]:
    """(event type, alert kind) of each event."""
    return [(e.type, e.alert.kind.value) for e in events]
