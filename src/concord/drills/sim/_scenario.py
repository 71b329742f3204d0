"""The seeded border scenario: movers, sensors, feeds and ground truth, advanced step by step.

``Scenario.from_config(config)`` builds the region, places sensors and spawns movers from three
independent random streams derived from the seed (world: spawning and scheduling; motion: wandering;
sensors: detections, noise and report timing), so the same seed always gives the same run and switching
the output mode does not change what happens on the ground. Time is the config's start plus the
sum of the step lengths; the wall clock is never read.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry

from concord.domain.errors import InvalidInput, NotFound
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.types import ensure_utc
from concord.domain.zone import Zone
from concord.drills.sim._config import ScenarioConfig
from concord.drills.sim._feeds import (
    KNOT_MPS,
    AisPosition,
    AisStatic,
    CotPosition,
    ais_position_lines,
    ais_static_lines,
    cot_event,
    quantise_ais,
)
from concord.drills.sim._geo import Region, default_region
from concord.drills.sim._movers import MAX_WAYPOINTS, MoverSpec, MoverTable
from concord.drills.sim._sensors import ScanResult, SensorFamily, SensorSite
from concord.drills.sim._truth import SimStep, TruthEvent, TruthEventKind, TruthKind, TruthState

__all__ = ["Scenario"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_NIGHT_FROM_H, _NIGHT_TO_H = 20.0, 5.5  # local solar time
_SOLAR_OFFSET_S = 26.5 / 15.0 * 3600.0
_MIDS = (237, 239, 240, 241, 248, 249, 256, 271, 538, 636)
_NAME_A = ("AEGEAN", "BLUE", "NORTHERN", "SILVER", "GOLDEN", "EASTERN", "CALM", "BRAVE", "SWIFT", "IRON")
_NAME_B = ("STAR", "WIND", "SPIRIT", "HORIZON", "TRADER", "PEARL", "DAWN", "WAVE", "EAGLE", "VENTURE")
_COT_TYPES = {
    TruthKind.FOOT_PATROL: "a-f-G-U-C-I",
    TruthKind.VEHICLE_PATROL: "a-f-G-E-V",
    TruthKind.PATROL_BOAT: "a-f-S-X-L",
}
_CROSSING_POINT_RADIUS_M = 300.0
_STATIONARY_MPS = 0.5
# Latitudes where an injected crossing may happen: the land border, clear of its ends.
_CROSSING_LAT_MIN, _CROSSING_LAT_MAX = 41.17, 41.58


@dataclass(slots=True)
class _Outage:
    start_s: float
    end_s: float


class Scenario:
    """A running scenario. Build with :meth:`from_config`; advance with :meth:`step` or :meth:`run`."""

    def __init__(self, config: ScenarioConfig, region: Region) -> None:
        self.config = config
        self.region = region
        self.start: datetime = ensure_utc(config.start)
        self._t = 0.0
        self._index = 0
        world, motion, sensors = np.random.SeedSequence(config.seed).spawn(3)
        self._rng_world = np.random.default_rng(world)
        self._rng_motion = np.random.default_rng(motion)
        self._rng_sensor = np.random.default_rng(sensors)
        self._movers = MoverTable(capacity=max(64, config.movers + config.rendezvous_count + 16))
        self._serial = 0
        self._obs_serial = 0
        self._static_serial = 0
        self._mmsis: set[int] = set()
        self._queue: list[tuple[float, int, tuple[Any, ...]]] = []
        self._queue_serial = 0
        self._dark_until: dict[str, float] = {}
        self._outages: dict[str, list[_Outage]] = {}
        self._rendezvous_ids: set[str] = set()
        self._markings: dict[str, Marking] = {}
        self._run_id = config.effective_run_id
        self._build_sensors()
        self._spawn_initial()

    @classmethod
    def from_config(cls, config: ScenarioConfig) -> Scenario:
        return cls(config, default_region())

    # -- public read-only views ---------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self._time(self._t)

    @property
    def elapsed_s(self) -> float:
        return self._t

    @property
    def sensors(self) -> tuple[SensorSite, ...]:
        return self._sites

    def zones(self) -> tuple[Zone, ...]:
        """The scenario's zones (WGS84 lon/lat geometry), ready for a zone store."""
        return self.region.zones_lonlat()

    def zones_geojson(self) -> dict[str, Any]:
        """Border line, sections, AORs, sea zones, port, crossing points and restricted area."""
        return self.region.zones_geojson()

    def sensors_geojson(self) -> dict[str, Any]:
        """Every sensor site as a Point feature, and its coverage as a Polygon feature."""
        features: list[dict[str, Any]] = []
        for site in self._sites:
            if site.lat is None or site.lon is None:
                continue
            props = {
                "id": site.id,
                "agency": site.agency,
                "sensor": site.kind.value,
                "range_m": site.range_m,
                "heading_deg": site.heading_deg,
                "fov_deg": site.fov_deg,
            }
            features.append(
                {"type": "Feature", "geometry": mapping(Point(site.lon, site.lat)), "properties": props}
            )
            cover = self._coverage_of.get(site.id)
            if cover is not None:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": mapping(self.region.geom_to_lonlat(cover)),
                        "properties": {**props, "id": f"{site.id}/coverage"},
                    }
                )
        return {"type": "FeatureCollection", "features": features}

    def coverage(self, sensor_id: str, *, local: bool = False) -> BaseGeometry:
        """The area a sensor covers, in WGS84 lon/lat (or local metres with ``local=True``).

        TAK feeds have no coverage of their own: patrols report wherever they are.
        """
        cover = self._coverage_of.get(sensor_id)
        if cover is None:
            raise NotFound(
                f"no sensor with a coverage area named {sensor_id!r}", details={"sensor_id": sensor_id}
            )
        return cover if local else self.region.geom_to_lonlat(cover)

    def truth(self) -> list[TruthState]:
        """Where every live mover is now."""
        return self._truth_states(self._t)

    # -- stepping -----------------------------------------------------------------------------------

    def run(self, duration_s: float, dt_s: float) -> Iterator[SimStep]:
        """Yield ``ceil(duration_s / dt_s)`` steps of ``dt_s`` each."""
        _check_positive("duration_s", duration_s)
        _check_positive("dt_s", dt_s)
        count = max(1, math.ceil(duration_s / dt_s - 1e-9))
        for _ in range(count):
            yield self.step(dt_s)

    def step(self, dt_s: float) -> SimStep:
        """Advance the world by ``dt_s`` seconds and return what happened and what was sensed."""
        _check_positive("dt_s", dt_s)
        if dt_s > 3600.0:
            raise InvalidInput("dt_s must be at most 3600 seconds", details={"field": "dt_s", "value": dt_s})
        t0, t1 = self._t, self._t + dt_s
        movers = self._movers
        movers.step(t0, t1, self._rng_motion)
        self._t = t1
        self._index += 1
        events: list[TruthEvent] = []
        self._run_queue(t1, events)
        self._detect_crossings(t0, t1, events)
        self._retire_finished(t1)
        observations: list[Observation] = []
        detections: dict[str, str | None] = {}
        raw_cot: list[bytes] = []
        raw_ais: list[str] = []
        when = self._time(t1)
        self._sense_tak(t1, when, observations, detections, raw_cot)
        self._sense_ais(t1, when, observations, detections, raw_ais)
        self._sense_scans(t1, when, observations, detections)
        events.sort(key=lambda e: (e.at, e.kind.value, e.truth_ids))
        return SimStep(
            index=self._index,
            time=when,
            observations=observations,
            raw_cot=raw_cot,
            raw_ais=raw_ais,
            truth=self._truth_states(t1),
            truth_events=events,
            detections=detections,
        )

    # -- scripted events ----------------------------------------------------------------------------

    def inject_go_dark(self, mmsi: int, at: datetime, duration_s: float = 1800.0) -> None:
        """Make the vessel with ``mmsi`` stop transmitting AIS from ``at`` for ``duration_s``."""
        _check_positive("duration_s", duration_s)
        at_s = self._seconds(at, "at")
        row = self._row_of_mmsi(mmsi)
        self._schedule(at_s, ("dark", self._movers.ids[row], at_s + duration_s))

    def inject_sensor_outage(self, sensor_id: str, start: datetime, end: datetime) -> None:
        """Silence one sensor (or a TAK feed, ``tak:<agency>``) between ``start`` and ``end``."""
        if sensor_id not in self._site_ids:
            raise NotFound(f"no sensor {sensor_id!r} in this scenario", details={"sensor_id": sensor_id})
        start_s = self._seconds(start, "start", allow_past=True)
        end_s = self._seconds(end, "end")
        if end_s <= start_s:
            raise InvalidInput("an outage must end after it starts", details={"field": "end"})
        self._outages.setdefault(sensor_id, []).append(_Outage(start_s, end_s))
        self._schedule(max(start_s, self._t), ("outage", sensor_id, start_s, end_s))

    def inject_crossing(
        self,
        at: datetime,
        *,
        lat: float | None = None,
        kind: TruthKind = TruthKind.WALKER,
        loiter_s: float = 0.0,
        inbound: bool = True,
    ) -> str:
        """Add a walker or vehicle that crosses the land border at ``at`` (at latitude ``lat`` if given).

        With ``loiter_s`` the mover first lingers a few hundred metres short of the line. Returns its
        truth id; the ``crossed-border`` truth event fires within a step of ``at``.
        """
        if kind not in (TruthKind.WALKER, TruthKind.VEHICLE):
            raise InvalidInput("only walkers and vehicles cross the land border", details={"field": "kind"})
        kind = TruthKind(kind)
        if not (math.isfinite(loiter_s) and loiter_s >= 0):
            raise InvalidInput("loiter_s must be a non-negative number", details={"field": "loiter_s"})
        at_s = self._seconds(at, "at")
        region = self.region
        if lat is not None:
            if not math.isfinite(lat):
                raise InvalidInput("lat must be a finite number", details={"field": "lat"})
            if not _CROSSING_LAT_MIN <= lat <= _CROSSING_LAT_MAX:
                raise InvalidInput(
                    f"lat must lie along the land border ({_CROSSING_LAT_MIN} to {_CROSSING_LAT_MAX})",
                    details={"field": "lat", "value": lat},
                )
            y = float(region.from_lonlat(np.array([26.45]), np.array([lat]))[1][0])
        else:
            y = self._walk_y()
        xb = float(region.border_x(np.array([y]))[0])
        direction = 1.0 if inbound else -1.0
        speed = 1.3 if kind is TruthKind.WALKER else 8.0
        lead_m = 300.0 if loiter_s > 0 else 0.0
        budget_s = at_s - self._t - loiter_s
        approach_m = min(2000.0 if kind is TruthKind.WALKER else 5000.0, speed * budget_s)
        if approach_m < lead_m + 50.0:
            raise InvalidInput(
                "too little time before 'at' to reach the border",
                details={"field": "at", "budget_s": budget_s},
            )
        depart_s = at_s - loiter_s - approach_m / speed
        route: list[tuple[float, float]] = [(xb - direction * approach_m, y)]
        not_before = [depart_s]
        loiter = [0.0]
        if loiter_s > 0:
            route.append((xb - direction * lead_m, y))
            not_before.append(0.0)
            loiter.append(0.0)
        route += [(xb + direction * 60.0, y), (xb + direction * 3000.0, y)]
        not_before += [0.0, 0.0]
        loiter += [0.0, 0.0]
        dwell = [0.0] * len(route)
        if loiter_s > 0:
            dwell[1] = loiter_s
        spec = MoverSpec(
            truth_id=self._new_id(kind),
            kind=kind,
            route=tuple(route),
            speed_mps=speed,
            dwell_s=tuple(dwell),
            not_before_s=tuple(not_before),
            loiter_m=tuple(loiter),
            role="injected",
        )
        self._movers.add(spec, self._t)
        return spec.truth_id

    def inject_rendezvous(
        self,
        at: datetime,
        duration_s: float = 600.0,
        *,
        mmsi: int | None = None,
        distance_m: float | None = None,
    ) -> tuple[str, str]:
        """Make an AIS vessel meet a small boat at sea from ``at`` for ``duration_s``.

        The vessel (``mmsi``, or one chosen by the scenario) stops where its route puts it at ``at``;
        a new boat comes out to it, and both stay within ``distance_m`` and nearly still until the end,
        after which the boat runs for the coast. Returns (vessel truth id, boat truth id).
        """
        _check_positive("duration_s", duration_s)
        distance = self.config.rendezvous_distance_m if distance_m is None else distance_m
        if not (math.isfinite(distance) and 20.0 <= distance <= 5000.0):
            raise InvalidInput("distance_m must be between 20 and 5000", details={"field": "distance_m"})
        at_s = self._seconds(at, "at")
        if mmsi is not None:
            rows = [self._row_of_mmsi(mmsi)]
        else:
            rows = [int(r) for r in self._rng_world.permutation(self._vessel_rows())]
        for row in rows:
            pair = self._plan_rendezvous(row, at_s, duration_s, distance)
            if pair is not None:
                return pair
        raise InvalidInput(
            "no vessel can be at sea for a rendezvous at that time",
            details={"field": "at" if mmsi is None else "mmsi"},
        )

    # -- building -----------------------------------------------------------------------------------

    def _build_sensors(self) -> None:
        cfg = self.config
        region = self.region
        mv = self._movers
        sea_kinds = frozenset(
            mv.kind_code(k) for k in (TruthKind.BOAT, TruthKind.VESSEL, TruthKind.PATROL_BOAT)
        )
        land_kinds = frozenset(
            mv.kind_code(k)
            for k in (TruthKind.WALKER, TruthKind.VEHICLE, TruthKind.FOOT_PATROL, TruthKind.VEHICLE_PATROL)
        )
        border_end_x = float(region.border_xs_m[0])
        x_east = region.bounds_m[2]

        def along_coast(n: int, x_from: float, x_to: float) -> tuple[FloatArray, FloatArray]:
            xs = np.linspace(x_from, x_to, n) if n > 1 else np.array([(x_from + x_to) / 2.0])[:n]
            return xs, region.coast_y(xs) + 300.0

        rx, ry = along_coast(cfg.radar.sites, border_end_x + 8000.0, x_east - 8000.0)
        self._radar = SensorFamily(
            kind=SensorKind.RADAR,
            ids=[f"radar:{cfg.radar.agency}-R{i + 1}" for i in range(cfg.radar.sites)],
            xs_m=rx,
            ys_m=ry,
            range_m=cfg.radar.range_m,
            pd_near=cfg.radar.pd_near,
            pd_far=cfg.radar.pd_far,
            sigma_m=cfg.radar.sigma_m,
            false_alarms_per_scan=cfg.radar.false_alarms_per_scan,
            scan_period_s=cfg.radar.scan_period_s,
            eligible_kinds=sea_kinds,
            clip=region.sea_m,
            small_kinds=frozenset({mv.kind_code(TruthKind.BOAT)}),
            small_factor=cfg.radar.small_boat_pd_factor,
        )
        y0, y1 = region.walk_span_m
        cy = (
            np.linspace(y0 + 2000.0, y1 - 2000.0, cfg.camera.towers)
            if cfg.camera.towers > 1
            else (np.array([(y0 + y1) / 2.0])[: cfg.camera.towers])
        )
        self._camera = SensorFamily(
            kind=SensorKind.CAMERA,
            ids=[f"camera:{cfg.camera.agency}-C{i + 1}" for i in range(cfg.camera.towers)],
            xs_m=region.border_x(cy) + 1000.0,
            ys_m=cy,
            range_m=cfg.camera.range_m,
            pd_near=cfg.camera.pd,
            pd_far=cfg.camera.pd,
            sigma_m=cfg.camera.sigma_m,
            false_alarms_per_scan=cfg.camera.false_alarms_per_scan,
            scan_period_s=cfg.camera.scan_period_s,
            eligible_kinds=land_kinds,
            heading_deg=270.0,
            fov_deg=cfg.camera.fov_deg,
        )
        uy = (
            np.linspace(y0 + 1000.0, y1 - 1000.0, cfg.ugs.count)
            if cfg.ugs.count > 1
            else (np.array([(y0 + y1) / 2.0])[: cfg.ugs.count])
        )
        for cp in region.crossings:
            # Keep ground sensors off the roads, where every car would trip them.
            near = np.abs(uy - cp.y_m) < 800.0
            uy = np.where(near, cp.y_m + np.sign(uy - cp.y_m + 1e-9) * 800.0, uy)
        self._ugs = SensorFamily(
            kind=SensorKind.UGS,
            ids=[f"ugs:{cfg.ugs.agency}-U{i + 1:02d}" for i in range(cfg.ugs.count)],
            xs_m=region.border_x(uy) + 100.0,
            ys_m=uy,
            range_m=cfg.ugs.range_m,
            pd_near=cfg.ugs.pd,
            pd_far=cfg.ugs.pd,
            sigma_m=None,
            false_alarms_per_scan=cfg.ugs.false_alarms_per_scan,
            scan_period_s=cfg.ugs.scan_period_s,
            eligible_kinds=land_kinds,
        )
        port_x, port_y = region.port_m
        if cfg.ais.receivers:
            others = along_coast(cfg.ais.receivers - 1, border_end_x + 5000.0, x_east - 5000.0)
            ax = np.concatenate([[port_x], others[0]])
            ay = np.concatenate([[float(region.coast_y(np.array([port_x]))[0]) + 300.0], others[1]])
        else:
            ax = ay = np.zeros(0)
        self._ais_ids = [f"ais:{cfg.ais.agency}-A{i + 1}" for i in range(cfg.ais.receivers)]
        self._ais_xy = np.column_stack([ax, ay]) if ax.size else np.zeros((0, 2))
        tak_agencies = sorted({"BP", "CG"})
        sites: list[SensorSite] = []
        self._coverage_of: dict[str, BaseGeometry] = {}
        for family in (self._radar, self._camera, self._ugs):
            lon, lat = region.to_lonlat(family.xs_m, family.ys_m)
            for i, sid in enumerate(family.ids):
                agency = sid.split(":", 1)[1].rsplit("-", 1)[0]
                sites.append(
                    SensorSite(
                        id=sid,
                        agency=agency,
                        kind=family.kind,
                        lat=round(float(lat[i]), 6),
                        lon=round(float(lon[i]), 6),
                        range_m=family.range_m,
                        heading_deg=family.heading_deg,
                        fov_deg=family.fov_deg,
                    )
                )
                self._coverage_of[sid] = family.coverage[i]
        if ax.size:
            alon, alat = region.to_lonlat(ax, ay)
            for i, sid in enumerate(self._ais_ids):
                sites.append(
                    SensorSite(
                        id=sid,
                        agency=cfg.ais.agency,
                        kind=SensorKind.AIS,
                        lat=round(float(alat[i]), 6),
                        lon=round(float(alon[i]), 6),
                        range_m=cfg.ais.range_m,
                    )
                )
                self._coverage_of[sid] = Point(ax[i], ay[i]).buffer(cfg.ais.range_m, quad_segs=32)
        for agency in tak_agencies:
            sites.append(
                SensorSite(
                    id=f"tak:{agency}", agency=agency, kind=SensorKind.TAK, lat=None, lon=None, range_m=None
                )
            )
        self._sites = tuple(sites)
        self._site_ids = frozenset(s.id for s in sites)

    def _spawn_initial(self) -> None:
        cfg = self.config
        rng = self._rng_world
        for _ in range(cfg.walkers):
            self._spawn_walker(initial=True)
        for _ in range(cfg.vehicles):
            self._spawn_vehicle(initial=True)
        night = int(round(cfg.boats * cfg.night_landing_fraction))
        for i in range(cfg.boats):
            if i < night:
                self._spawn_night_boat()
            else:
                self._spawn_fishing_boat()
        for _ in range(cfg.vessels):
            self._spawn_vessel(initial=True)
        self._spawn_patrols()
        for _ in range(cfg.rendezvous_count):
            latest = cfg.horizon_s - cfg.rendezvous_max_s
            at_s = float(rng.uniform(min(600.0, latest / 2), max(latest, 1.0)))
            duration_s = float(rng.uniform(cfg.rendezvous_min_s, cfg.rendezvous_max_s))
            for row in [int(r) for r in rng.permutation(self._vessel_rows())]:
                if self._plan_rendezvous(row, at_s, duration_s, cfg.rendezvous_distance_m) is not None:
                    break

    def _new_id(self, kind: TruthKind) -> str:
        self._serial += 1
        return f"{kind.value}-{self._serial:05d}"

    def _walk_y(self) -> float:
        y0, y1 = self.region.walk_span_m
        for _ in range(100):
            y = float(self._rng_world.uniform(y0 + 1000.0, y1 - 1000.0))
            if all(abs(y - cp.y_m) > 1500.0 for cp in self.region.crossings):
                return y
        return (y0 + y1) / 2.0

    def _spawn_walker(self, *, initial: bool) -> None:
        rng = self._rng_world
        region = self.region
        y = self._walk_y()
        xb = float(region.border_x(np.array([y]))[0])
        start = (xb - float(rng.uniform(2500.0, 5000.0)), y + float(rng.uniform(-400.0, 400.0)))
        route: list[tuple[float, float]] = [start]
        dwell = [0.0]
        loiter = [0.0]
        if rng.random() < self.config.loiter_fraction:
            yl = y + float(rng.uniform(-200.0, 200.0))
            route.append((float(region.border_x(np.array([yl]))[0]) - float(rng.uniform(350.0, 600.0)), yl))
            dwell.append(float(rng.uniform(self.config.loiter_min_s, self.config.loiter_max_s)))
            loiter.append(150.0)
        route.append((xb + 80.0, y))
        dwell.append(0.0)
        loiter.append(0.0)
        y_end = float(np.clip(y + rng.uniform(-1000.0, 1000.0), region.walk_span_m[0], region.walk_span_m[1]))
        route.append(
            (float(region.border_x(np.array([y_end]))[0]) + float(rng.uniform(2000.0, 6000.0)), y_end)
        )
        dwell.append(0.0)
        loiter.append(0.0)
        if initial:
            depart = float(rng.uniform(0.0, min(self.config.horizon_s, 3600.0) * 0.5))
            progress = float(rng.uniform(0.0, 0.7))
            route[0] = _lerp(route[0], route[1], progress)
        else:
            depart = self._t + float(rng.uniform(60.0, 1800.0))
        self._movers.add(
            MoverSpec(
                truth_id=self._new_id(TruthKind.WALKER),
                kind=TruthKind.WALKER,
                route=tuple(route),
                speed_mps=float(rng.uniform(0.9, 1.6)),
                dwell_s=tuple(dwell),
                not_before_s=(depart, *([0.0] * (len(route) - 1))),
                loiter_m=tuple(loiter),
                role="walker",
            ),
            self._t,
        )

    def _spawn_vehicle(self, *, initial: bool) -> None:
        rng = self._rng_world
        cp = self.region.crossings[int(rng.integers(len(self.region.crossings)))]
        road = list(cp.road)
        if rng.random() < 0.5:
            road.reverse()
        # The customs stop is the waypoint on the home side of the line, whichever way the car goes.
        stop = next(
            i for i, p in enumerate(road) if math.isclose(p[0], cp.x_m + 40.0) and math.isclose(p[1], cp.y_m)
        )
        dwell = [0.0] * len(road)
        dwell[stop] = float(rng.uniform(60.0, 600.0))
        depart = self._t + (0.0 if initial else float(rng.uniform(0.0, 600.0)))
        if initial:
            k = int(rng.integers(0, stop))
            road = [_lerp(road[k], road[k + 1], float(rng.uniform(0.0, 0.9))), *road[k + 1 :]]
            dwell = dwell[k:]
        self._movers.add(
            MoverSpec(
                truth_id=self._new_id(TruthKind.VEHICLE),
                kind=TruthKind.VEHICLE,
                route=tuple(road),
                speed_mps=float(rng.uniform(11.0, 22.0)),
                dwell_s=tuple(dwell),
                not_before_s=(depart, *([0.0] * (len(road) - 1))),
                role="vehicle",
            ),
            self._t,
        )

    def _landing_point(self) -> tuple[tuple[float, float], tuple[float, float]]:
        rng = self._rng_world
        region = self.region
        x_lo = float(region.border_xs_m[0]) + 2000.0
        x_hi = region.bounds_m[2] - 2000.0
        port_x = region.port_m[0]
        for _ in range(100):
            x = float(rng.uniform(x_lo, x_hi))
            if abs(x - port_x) > 2500.0:
                break
        y = float(region.coast_y(np.array([x]))[0])
        return (x, y + 40.0), (x, y + 200.0)

    def _spawn_night_boat(self) -> None:
        rng = self._rng_world
        region = self.region
        beach, inland = self._landing_point()
        x = float(
            np.clip(
                beach[0] + rng.uniform(-15000.0, 15000.0),
                region.bounds_m[0] + 2000,
                region.bounds_m[2] - 2000,
            )
        )
        y = float(region.coast_y(np.array([x]))[0]) - float(rng.uniform(20000.0, 35000.0))
        depart = self._next_night(self._t) + float(rng.uniform(0.0, 2400.0))
        self._movers.add(
            MoverSpec(
                truth_id=self._new_id(TruthKind.BOAT),
                kind=TruthKind.BOAT,
                route=((x, y), beach, inland),
                speed_mps=float(rng.uniform(8.0, 14.0)),
                not_before_s=(depart, 0.0, 0.0),
                loiter_m=(300.0, 0.0, 0.0),
                role="night-boat",
            ),
            self._t,
        )

    def _spawn_fishing_boat(self) -> None:
        rng = self._rng_world
        region = self.region
        points: list[tuple[float, float]] = []
        x0 = float(region.border_xs_m[0]) + 3000.0
        x1 = region.bounds_m[2] - 3000.0
        while len(points) < 4:
            x = float(rng.uniform(x0, x1))
            y = float(region.coast_y(np.array([x]))[0]) - float(rng.uniform(4000.0, 30000.0))
            points.append((x, y))
        self._movers.add(
            MoverSpec(
                truth_id=self._new_id(TruthKind.BOAT),
                kind=TruthKind.BOAT,
                route=tuple(points),
                speed_mps=float(rng.uniform(3.0, 6.0)),
                dwell_s=tuple(float(rng.uniform(600.0, 1800.0)) for _ in points),
                loiter_m=(300.0,) * len(points),
                loop=True,
                role="fishing-boat",
            ),
            self._t,
        )

    def _new_mmsi(self) -> int:
        rng = self._rng_world
        while True:
            mmsi = int(_MIDS[int(rng.integers(len(_MIDS)))]) * 1_000_000 + int(rng.integers(0, 1_000_000))
            if mmsi not in self._mmsis:
                self._mmsis.add(mmsi)
                return mmsi

    def _spawn_vessel(self, *, initial: bool) -> None:
        rng = self._rng_world
        lanes = self.region.lanes_m
        lane = list(lanes[int(rng.integers(len(lanes)))])
        if initial:
            k = int(rng.integers(0, len(lane) - 1))
            lane = [_lerp(lane[k], lane[k + 1], float(rng.uniform(0.0, 0.9))), *lane[k + 1 :]]
        name = f"{_NAME_A[int(rng.integers(10))]} {_NAME_B[int(rng.integers(10))]}"
        letters = "".join(chr(ord("A") + int(c)) for c in rng.integers(0, 26, size=3))
        callsign = f"{letters}{int(rng.integers(1000, 10000))}"
        spec = MoverSpec(
            truth_id=self._new_id(TruthKind.VESSEL),
            kind=TruthKind.VESSEL,
            route=tuple(lane),
            speed_mps=float(rng.uniform(5.0, 9.0)),
            role="vessel",
            mmsi=self._new_mmsi(),
            vessel_name=name,
            callsign=callsign,
        )
        row = self._movers.add(spec, self._t)
        # Stagger the first transmissions so a hundred vessels do not all report in the first step.
        self._movers.next_ais[row] = self._t + float(rng.uniform(0.0, self.config.ais.moving_interval_s))
        self._movers.next_static[row] = self._t + float(rng.uniform(0.0, self.config.ais.static_interval_s))
        if rng.random() < self.config.dark_probability:
            cfg = self.config
            span = max(cfg.horizon_s - cfg.dark_min_s, 600.0)
            at_s = self._t + float(rng.uniform(300.0, max(span, 301.0)))
            self._schedule(
                at_s, ("dark", spec.truth_id, at_s + float(rng.uniform(cfg.dark_min_s, cfg.dark_max_s)))
            )

    def _spawn_patrols(self) -> None:
        cfg = self.config
        rng = self._rng_world
        region = self.region
        n = cfg.patrols
        foot = int(round(n * 0.4))
        boats = int(round(n * 0.3))
        mobile = n - foot - boats
        y0, y1 = region.walk_span_m
        vertex_ys = [float(y) for y in region.border_ys_m if y0 < y < y1]

        def line(ys: list[float], offset_m: float) -> list[tuple[float, float]]:
            xs = region.border_x(np.asarray(ys)) + offset_m
            return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]

        def back_and_forth(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
            return tuple(points + points[-2:0:-1])

        for i in range(foot):
            ya = float(rng.uniform(y0 + 500.0, y1 - 4500.0))
            yb = ya + float(rng.uniform(3000.0, 4000.0))
            ys = [ya, *[y for y in vertex_ys if ya < y < yb], yb]
            self._add_patrol(
                TruthKind.FOOT_PATROL,
                "BP",
                f"BP-FOOT-{i + 1}",
                back_and_forth(line(ys, float(rng.uniform(300.0, 500.0)))),
                float(rng.uniform(1.1, 1.5)),
            )
        for i in range(mobile):
            ys = [y0 + 500.0, *vertex_ys, y1 - 500.0]
            pts = line(ys, float(rng.uniform(1300.0, 1700.0)))
            start = int(rng.integers(len(pts)))
            route = back_and_forth(pts)
            self._add_patrol(
                TruthKind.VEHICLE_PATROL,
                "BP",
                f"BP-MOBILE-{i + 1}",
                route[start:] + route[:start],
                float(rng.uniform(8.0, 12.0)),
            )
        for i in range(boats):
            xs = np.linspace(float(region.border_xs_m[0]) + 4000.0, region.bounds_m[2] - 4000.0, 5)
            off = float(rng.uniform(4000.0, 12000.0))
            pts = [(float(x), float(y) - off) for x, y in zip(xs, region.coast_y(xs), strict=True)]
            if rng.random() < 0.5:
                pts.reverse()
            self._add_patrol(
                TruthKind.PATROL_BOAT,
                "CG",
                f"CG-BOAT-{i + 1}",
                back_and_forth(pts),
                float(rng.uniform(6.0, 10.0)),
            )

    def _add_patrol(
        self,
        kind: TruthKind,
        agency: str,
        callsign: str,
        route: tuple[tuple[float, float], ...],
        speed: float,
    ) -> None:
        uid = f"ANDROID-{self._rng_world.integers(0, 2**48):012x}"
        row = self._movers.add(
            MoverSpec(
                truth_id=self._new_id(kind),
                kind=kind,
                route=route,
                speed_mps=speed,
                loop=True,
                role="patrol",
                tak_uid=uid,
                callsign=callsign,
                agency=agency,
            ),
            self._t,
        )
        self._movers.next_tak[row] = self._t + float(self._rng_world.uniform(0.0, self.config.tak.interval_s))

    def _respawn(self, role: str) -> None:
        if role == "walker":
            self._spawn_walker(initial=False)
        elif role == "vehicle":
            self._spawn_vehicle(initial=False)
        elif role == "night-boat":
            self._spawn_night_boat()
        elif role == "vessel":
            self._spawn_vessel(initial=False)

    # -- rendezvous ---------------------------------------------------------------------------------

    def _vessel_rows(self) -> IntArray:
        mv = self._movers
        live = mv.live_rows()
        return live[mv.has_ais[live] & ~mv.finished[live]]

    def _plan_rendezvous(
        self, row: int, at_s: float, duration_s: float, distance_m: float
    ) -> tuple[str, str] | None:
        mv = self._movers
        vessel_id = mv.ids[row]
        if vessel_id in self._rendezvous_ids or mv.rlen[row] >= MAX_WAYPOINTS:
            return None
        future = mv.future_position(row, self._t, at_s)
        if future is None:
            return None
        px, py, k = future
        region = self.region
        if not bool(region.at_sea(np.array([px]), np.array([py]))[0]):
            return None
        rng = self._rng_world
        speed = 8.0
        reach_m = min(5000.0, speed * (at_s - self._t) * 0.8)
        if reach_m < 200.0:
            return None
        start = region.random_sea_point_near(rng, px, py, reach_m)
        if start is None:
            return None
        angle = float(rng.uniform(0.0, 2 * math.pi))
        meet = (px + 0.3 * distance_m * math.cos(angle), py + 0.3 * distance_m * math.sin(angle))
        end_s = at_s + duration_s
        depart = at_s - math.dist(start, meet) / speed - 60.0
        mv.insert_waypoint(row, k, (px, py), not_before_s=end_s, loiter_m=0.15 * distance_m)
        beach, inland = self._landing_point()
        boat_id = self._new_id(TruthKind.BOAT)
        mv.add(
            MoverSpec(
                truth_id=boat_id,
                kind=TruthKind.BOAT,
                route=(start, meet, beach, inland),
                speed_mps=speed,
                not_before_s=(depart, end_s, 0.0, 0.0),
                loiter_m=(0.0, 0.15 * distance_m, 0.0, 0.0),
                role="rendezvous-boat",
            ),
            self._t,
        )
        self._rendezvous_ids.update((vessel_id, boat_id))
        self._schedule(at_s, ("rendezvous", vessel_id, boat_id, px, py, end_s))
        return (vessel_id, boat_id)

    # -- the event queue ----------------------------------------------------------------------------

    def _schedule(self, at_s: float, action: tuple[Any, ...]) -> None:
        self._queue_serial += 1
        heapq.heappush(self._queue, (at_s, self._queue_serial, action))

    def _run_queue(self, t1: float, events: list[TruthEvent]) -> None:
        mv = self._movers
        while self._queue and self._queue[0][0] <= t1 + 1e-9:
            at_s, _, action = heapq.heappop(self._queue)
            verb = action[0]
            if verb == "dark":
                truth_id, until_s = action[1], float(action[2])
                row = mv.row_of.get(truth_id)
                if row is None:
                    continue
                was_dark = truth_id in self._dark_until
                self._dark_until[truth_id] = max(until_s, self._dark_until.get(truth_id, until_s))
                mv.ais_on[row] = False
                if not was_dark:
                    events.append(
                        self._event(TruthEventKind.WENT_DARK, at_s, (truth_id,), row, ends_at_s=until_s)
                    )
                self._schedule(until_s, ("undark", truth_id))
            elif verb == "undark":
                truth_id = action[1]
                row = mv.row_of.get(truth_id)
                dark_until = self._dark_until.get(truth_id)
                if dark_until is None or at_s < dark_until - 1e-9:
                    continue
                del self._dark_until[truth_id]
                if row is None:
                    continue
                mv.ais_on[row] = True
                mv.next_ais[row] = at_s
                events.append(self._event(TruthEventKind.AIS_RESUMED, at_s, (truth_id,), row))
            elif verb == "rendezvous":
                _, a, b, px, py, end_s = action
                lon, lat = self.region.to_lonlat(np.array([px]), np.array([py]))
                events.append(
                    TruthEvent(
                        kind=TruthEventKind.RENDEZVOUS_STARTED,
                        at=self._time(at_s),
                        truth_ids=(a, b),
                        lat=round(float(lat[0]), 6),
                        lon=round(float(lon[0]), 6),
                        ends_at=self._time(end_s),
                    )
                )
                self._schedule(end_s, ("rendezvous-end", a, b, px, py))
            elif verb == "rendezvous-end":
                _, a, b, px, py = action
                lon, lat = self.region.to_lonlat(np.array([px]), np.array([py]))
                events.append(
                    TruthEvent(
                        kind=TruthEventKind.RENDEZVOUS_ENDED,
                        at=self._time(at_s),
                        truth_ids=(a, b),
                        lat=round(float(lat[0]), 6),
                        lon=round(float(lon[0]), 6),
                    )
                )
            elif verb == "outage":
                _, sensor_id, start_s, end_s = action
                events.append(
                    TruthEvent(
                        kind=TruthEventKind.SENSOR_OUTAGE_STARTED,
                        at=self._time(start_s),
                        ends_at=self._time(end_s),
                        attributes={"sensor_id": sensor_id},
                    )
                )
                self._schedule(end_s, ("outage-end", sensor_id))
            elif verb == "outage-end":
                events.append(
                    TruthEvent(
                        kind=TruthEventKind.SENSOR_OUTAGE_ENDED,
                        at=self._time(at_s),
                        attributes={"sensor_id": action[1]},
                    )
                )

    def _event(
        self,
        kind: TruthEventKind,
        at_s: float,
        truth_ids: tuple[str, ...],
        row: int,
        *,
        ends_at_s: float | None = None,
    ) -> TruthEvent:
        lon, lat = self.region.to_lonlat(
            self._movers.pos[row : row + 1, 0], self._movers.pos[row : row + 1, 1]
        )
        return TruthEvent(
            kind=kind,
            at=self._time(at_s),
            truth_ids=truth_ids,
            lat=round(float(lat[0]), 6),
            lon=round(float(lon[0]), 6),
            ends_at=self._time(ends_at_s) if ends_at_s is not None else None,
        )

    # -- truth bookkeeping --------------------------------------------------------------------------

    def _detect_crossings(self, t0: float, t1: float, events: list[TruthEvent]) -> None:
        mv = self._movers
        region = self.region
        rows = mv.live_rows()
        if rows.size == 0:
            return
        p0 = mv.prev[rows]
        p1 = mv.pos[rows]
        moved = np.any(p0 != p1, axis=1)
        span = region.in_border_span(p0[:, 1]) & region.in_border_span(p1[:, 1])
        f0 = p0[:, 0] - region.border_x(p0[:, 1])
        f1 = p1[:, 0] - region.border_x(p1[:, 1])
        crossed = moved & span & ((f0 > 0) != (f1 > 0))
        for i in np.flatnonzero(crossed):
            frac = float(f0[i] / (f0[i] - f1[i])) if f0[i] != f1[i] else 0.0
            point = p0[i] + (p1[i] - p0[i]) * frac
            cp = next(
                (
                    c.id
                    for c in region.crossings
                    if math.dist((c.x_m, c.y_m), point) <= _CROSSING_POINT_RADIUS_M
                ),
                None,
            )
            events.append(
                self._point_event(
                    TruthEventKind.CROSSED_BORDER,
                    t0 + (t1 - t0) * frac,
                    mv.ids[int(rows[i])],
                    point,
                    {"direction": "inbound" if f1[i] > 0 else "outbound", "crossing_point": cp},
                )
            )
        boats = rows[mv.kind[rows] == mv.kind_code(TruthKind.BOAT)]
        if boats.size:
            q0 = mv.prev[boats]
            q1 = mv.pos[boats]
            g0 = q0[:, 1] - region.coast_y(q0[:, 0])
            g1 = q1[:, 1] - region.coast_y(q1[:, 0])
            for i in np.flatnonzero((g0 < 0) & (g1 >= 0)):
                frac = float(g0[i] / (g0[i] - g1[i]))
                point = q0[i] + (q1[i] - q0[i]) * frac
                events.append(
                    self._point_event(
                        TruthEventKind.LANDED, t0 + (t1 - t0) * frac, mv.ids[int(boats[i])], point, {}
                    )
                )

    def _point_event(
        self, kind: TruthEventKind, at_s: float, truth_id: str, point: FloatArray, attributes: dict[str, Any]
    ) -> TruthEvent:
        lon, lat = self.region.to_lonlat(np.array([point[0]]), np.array([point[1]]))
        return TruthEvent(
            kind=kind,
            at=self._time(at_s),
            truth_ids=(truth_id,),
            lat=round(float(lat[0]), 6),
            lon=round(float(lon[0]), 6),
            attributes=attributes,
        )

    def _retire_finished(self, t1: float) -> None:
        mv = self._movers
        rows = mv.live_rows()
        done = rows[mv.finished[rows] & (mv.hold_until[rows] <= t1)]
        for row in done:
            spec = mv.specs[int(row)]
            mv.retire(int(row))
            if self.config.respawn and spec is not None:
                self._respawn(spec.role)

    def _truth_states(self, t_s: float) -> list[TruthState]:
        mv = self._movers
        rows = mv.live_rows()
        if rows.size == 0:
            return []
        lon, lat = self.region.to_lonlat(mv.pos[rows, 0], mv.pos[rows, 1])
        vel = mv.vel[rows]
        speed = np.round(np.hypot(vel[:, 0], vel[:, 1]), 3).tolist()
        course = np.round(np.degrees(np.arctan2(vel[:, 0], vel[:, 1])) % 360.0, 3).tolist()
        lat_l = lat.tolist()
        lon_l = lon.tolist()
        ais_on = mv.ais_on[rows].tolist()
        has_ais = mv.has_ais[rows].tolist()
        when = self._time(t_s)
        kinds = mv.kinds_of(rows)
        specs = mv.specs
        out: list[TruthState] = []
        for i, row in enumerate(rows.tolist()):
            spec = specs[row]
            if spec is None:
                continue
            out.append(
                TruthState(
                    truth_id=spec.truth_id,
                    kind=kinds[i],
                    time=when,
                    lat=lat_l[i],
                    lon=lon_l[i],
                    course_deg=course[i],
                    speed_mps=speed[i],
                    mmsi=spec.mmsi,
                    vessel_name=spec.vessel_name,
                    ais_transmitting=ais_on[i] if has_ais[i] else None,
                    tak_uid=spec.tak_uid,
                    callsign=spec.callsign,
                    agency=spec.agency,
                )
            )
        return out

    # -- sensing ------------------------------------------------------------------------------------

    def _down(self, sensor_id: str, t_s: float) -> bool:
        outages = self._outages.get(sensor_id)
        return outages is not None and any(o.start_s <= t_s < o.end_s for o in outages)

    def _marking(self, agency: str) -> Marking:
        marking = self._markings.get(agency)
        if marking is None:
            marking = self.config.marking_for(agency)
            self._markings[agency] = marking
        return marking

    def _obs_id(self) -> str:
        self._obs_serial += 1
        return f"{self._run_id}-{self._obs_serial:09d}"

    def _sense_tak(
        self,
        t_s: float,
        when: datetime,
        observations: list[Observation],
        detections: dict[str, str | None],
        raw_cot: list[bytes],
    ) -> None:
        mv = self._movers
        cfg = self.config
        rows = mv.live_rows()
        rows = rows[mv.has_tak[rows] & (mv.next_tak[rows] <= t_s + 1e-9)]
        if rows.size == 0:
            return
        mv.next_tak[rows] = t_s + cfg.tak.interval_s
        noise = self._rng_sensor.normal(0.0, cfg.tak.gps_sigma_m, size=(rows.size, 2))
        lon, lat = self.region.to_lonlat(mv.pos[rows, 0] + noise[:, 0], mv.pos[rows, 1] + noise[:, 1])
        vel = mv.vel[rows]
        speed = np.round(np.hypot(vel[:, 0], vel[:, 1]), 1)
        course = np.round(np.degrees(np.arctan2(vel[:, 0], vel[:, 1])) % 360.0, 1) % 360.0
        kinds = mv.kinds_of(rows)
        for i, row in enumerate(rows.tolist()):
            spec = mv.specs[row]
            if spec is None or spec.tak_uid is None or spec.agency is None:
                continue
            source = f"tak:{spec.agency}"
            if self._down(source, t_s):
                continue
            la, lo = round(float(lat[i]), 7), round(float(lon[i]), 7)
            if cfg.output != "raw":
                obs_id = self._obs_id()
                observations.append(
                    Observation(
                        id=obs_id,
                        source=source,
                        agency=spec.agency,
                        sensor=SensorKind.TAK,
                        observed_at=when,
                        lat=la,
                        lon=lo,
                        marking=self._marking(spec.agency),
                        position_sigma_m=cfg.tak.gps_sigma_m,
                        course_deg=float(course[i]),
                        speed_mps=float(speed[i]),
                        identity=f"tak:{spec.tak_uid}",
                        callsign=spec.callsign,
                        target=TargetKind.UNIT,
                        exercise=cfg.exercise,
                    )
                )
                detections[obs_id] = spec.truth_id
            if cfg.output != "observations":
                raw_cot.append(
                    cot_event(
                        CotPosition(
                            uid=spec.tak_uid,
                            cot_type=_COT_TYPES[kinds[i]],
                            callsign=spec.callsign or spec.tak_uid,
                            team="Cyan" if spec.agency == "BP" else "Blue",
                            lat=la,
                            lon=lo,
                            ce_m=cfg.tak.gps_sigma_m,
                            course_deg=float(course[i]),
                            speed_mps=float(speed[i]),
                        ),
                        at=when,
                        stale_s=cfg.tak.stale_s,
                    )
                )

    def _sense_ais(
        self,
        t_s: float,
        when: datetime,
        observations: list[Observation],
        detections: dict[str, str | None],
        raw_ais: list[str],
    ) -> None:
        mv = self._movers
        cfg = self.config
        rng = self._rng_sensor
        rows = mv.live_rows()
        rows = rows[mv.has_ais[rows] & mv.ais_on[rows] & (mv.next_ais[rows] <= t_s + 1e-9)]
        want_static = cfg.output != "observations"
        static_rows = mv.live_rows()
        static_rows = static_rows[
            mv.has_ais[static_rows] & mv.ais_on[static_rows] & (mv.next_static[static_rows] <= t_s + 1e-9)
        ]
        if static_rows.size:
            mv.next_static[static_rows] = t_s + cfg.ais.static_interval_s
        if rows.size == 0 and not (want_static and static_rows.size):
            return
        vel = mv.vel[rows]
        speed = np.hypot(vel[:, 0], vel[:, 1])
        moving = speed > _STATIONARY_MPS
        interval = np.where(moving, cfg.ais.moving_interval_s, cfg.ais.stationary_interval_s)
        mv.next_ais[rows] = t_s + interval * rng.uniform(0.9, 1.1, size=rows.size)
        up = np.array([not self._down(sid, t_s) for sid in self._ais_ids], dtype=np.bool_)
        heard_by = self._receivers_for(rows, up)
        noise = rng.normal(0.0, cfg.ais.gps_sigma_m, size=(rows.size, 2))
        lon, lat = self.region.to_lonlat(mv.pos[rows, 0] + noise[:, 0], mv.pos[rows, 1] + noise[:, 1])
        course = np.degrees(np.arctan2(vel[:, 0], vel[:, 1])) % 360.0
        second = when.second
        for i, row in enumerate(rows.tolist()):
            receiver = int(heard_by[i])
            if receiver < 0:
                continue
            spec = mv.specs[row]
            if spec is None or spec.mmsi is None:
                continue
            q_lat, q_lon, speed_kn, cog = quantise_ais(
                float(lat[i]), float(lon[i]), float(speed[i]), float(course[i])
            )
            source = self._ais_ids[receiver]
            if cfg.output != "raw":
                obs_id = self._obs_id()
                observations.append(
                    Observation(
                        id=obs_id,
                        source=source,
                        agency=cfg.ais.agency,
                        sensor=SensorKind.AIS,
                        observed_at=when,
                        lat=q_lat,
                        lon=q_lon,
                        marking=self._marking(cfg.ais.agency),
                        position_sigma_m=cfg.ais.gps_sigma_m,
                        course_deg=cog,
                        speed_mps=round(speed_kn * KNOT_MPS, 3),
                        identity=f"mmsi:{spec.mmsi}",
                        target=TargetKind.VESSEL,
                        exercise=cfg.exercise,
                        attributes={"name": spec.vessel_name, "ais_callsign": spec.callsign},
                    )
                )
                detections[obs_id] = spec.truth_id
            if cfg.output != "observations":
                raw_ais.extend(
                    ais_position_lines(
                        AisPosition(
                            mmsi=spec.mmsi,
                            lat=q_lat,
                            lon=q_lon,
                            speed_kn=speed_kn,
                            course_deg=cog,
                            heading_deg=int(round(cog)) % 360,
                            second=second,
                            moored=not bool(moving[i]),
                        ),
                        channel="A" if row % 2 == 0 else "B",
                        tag_source=source.split(":", 1)[1] if cfg.ais.tag_block else None,
                        at=when,
                    )
                )
        if want_static and static_rows.size:
            heard_static = self._receivers_for(static_rows, up)
            for i, row in enumerate(static_rows.tolist()):
                receiver = int(heard_static[i])
                if receiver < 0:
                    continue
                spec = mv.specs[row]
                if spec is None or spec.mmsi is None:
                    continue
                self._static_serial += 1
                raw_ais.extend(
                    ais_static_lines(
                        AisStatic(
                            mmsi=spec.mmsi,
                            name=spec.vessel_name or "",
                            callsign=spec.callsign or "",
                            imo=9_000_000 + spec.mmsi % 1_000_000,
                            ship_type=70,
                            destination="MARENNA",
                        ),
                        channel="A",
                        tag_source=self._ais_ids[receiver].split(":", 1)[1] if cfg.ais.tag_block else None,
                        at=when,
                        seq_id=self._static_serial,
                    )
                )

    def _receivers_for(self, rows: IntArray, up: NDArray[np.bool_]) -> IntArray:
        """Index of the first receiver that is up and in range of each row, or -1."""
        if rows.size == 0 or self._ais_xy.shape[0] == 0:
            return np.full(rows.size, -1, dtype=np.int64)
        pos = self._movers.pos[rows]
        d = np.hypot(pos[None, :, 0] - self._ais_xy[:, 0, None], pos[None, :, 1] - self._ais_xy[:, 1, None])
        ok = (d <= self.config.ais.range_m) & up[:, None]
        first = np.argmax(ok, axis=0)
        return np.where(ok.any(axis=0), first, -1).astype(np.int64)

    def _sense_scans(
        self, t_s: float, when: datetime, observations: list[Observation], detections: dict[str, str | None]
    ) -> None:
        mv = self._movers
        rows = mv.live_rows()
        xs = mv.pos[rows, 0]
        ys = mv.pos[rows, 1]
        kinds = mv.kind[rows]
        sea = self.region.at_sea(xs, ys)
        rng = self._rng_sensor
        kinds_list: list[TruthKind] | None = None
        for family, domain in ((self._radar, sea), (self._camera, ~sea), (self._ugs, ~sea)):
            if not family.ids:
                continue
            up = np.array([not self._down(sid, t_s) for sid in family.ids], dtype=np.bool_)
            result = family.scan(t_s, up, rows, kinds, xs, ys, domain, rng)
            if result.rows.size == 0:
                continue
            if kinds_list is None:
                kinds_list = list(TruthKind)
            self._emit_scan(family, result, when, observations, detections, kinds_list)

    def _emit_scan(
        self,
        family: SensorFamily,
        result: ScanResult,
        when: datetime,
        observations: list[Observation],
        detections: dict[str, str | None],
        kinds_list: list[TruthKind],
    ) -> None:
        mv = self._movers
        cfg = self.config
        lon, lat = self.region.to_lonlat(result.x_m, result.y_m)
        lat_l = np.round(lat, 7).tolist()
        lon_l = np.round(lon, 7).tolist()
        sigma = family.position_sigma_m
        agencies = [sid.split(":", 1)[1].rsplit("-", 1)[0] for sid in family.ids]
        for i, (site, row) in enumerate(zip(result.site.tolist(), result.rows.tolist(), strict=True)):
            agency = agencies[site]
            truth_id = mv.ids[row] if row >= 0 else None
            target = TargetKind.UNKNOWN
            if family.kind is SensorKind.CAMERA:
                # A camera operator tells a person from a vehicle, but not a patrol from anyone else.
                kind = kinds_list[int(mv.kind[row])] if row >= 0 else TruthKind.WALKER
                vehicle = kind in (TruthKind.VEHICLE, TruthKind.VEHICLE_PATROL)
                target = TargetKind.VEHICLE if vehicle else TargetKind.PERSON
            obs_id = self._obs_id()
            observations.append(
                Observation(
                    id=obs_id,
                    source=family.ids[site],
                    agency=agency,
                    sensor=family.kind,
                    observed_at=when,
                    lat=lat_l[i],
                    lon=lon_l[i],
                    marking=self._marking(agency),
                    position_sigma_m=sigma,
                    target=target,
                    exercise=cfg.exercise,
                )
            )
            detections[obs_id] = truth_id

    # -- time ---------------------------------------------------------------------------------------

    def _time(self, t_s: float) -> datetime:
        return self.start + timedelta(seconds=t_s)

    def _seconds(self, moment: datetime, field: str, *, allow_past: bool = False) -> float:
        try:
            at = ensure_utc(moment)
        except (ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"{field} must be a timezone-aware datetime", details={"field": field}
            ) from exc
        seconds = (at - self.start).total_seconds()
        if not allow_past and seconds < self._t:
            raise InvalidInput(
                f"{field} lies in the scenario's past", details={"field": field, "now": self.now.isoformat()}
            )
        return seconds

    def _row_of_mmsi(self, mmsi: int) -> int:
        mv = self._movers
        rows = mv.live_rows()
        match = rows[mv.has_ais[rows] & (mv.mmsi[rows] == mmsi)]
        if match.size == 0:
            raise NotFound(f"no live vessel with MMSI {mmsi}", details={"mmsi": mmsi})
        return int(match[0])

    def _next_night(self, t_s: float) -> float:
        local = (self._time(t_s).timestamp() + _SOLAR_OFFSET_S) % 86_400.0
        hour = local / 3600.0
        if hour >= _NIGHT_FROM_H or hour < _NIGHT_TO_H:
            return t_s
        return t_s + (_NIGHT_FROM_H * 3600.0 - local)


def _lerp(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidInput(
            f"{name} must be a positive finite number", details={"field": name, "value": value}
        )
