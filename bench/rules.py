"""Benchmark of the rules engine: track updates per second over 1,000 zones.

Generates a region (about 200 km x 200 km around 45N 20E) with 1,000 zones: border lines, border
sections along the main border, overlapping agency AORs, restricted polygons, territorial sea,
contiguous zone and ports; and a stream of track updates from a few thousand tracks (random walks of
vessels, vehicles and people, some with AIS identities, some unidentified, a few loitering or meeting).

Figures, all measured in the same run:

* ``engine_batched``: :meth:`RulesEngine.evaluate_many` on one tracker scan at a time (every track
  once), with :meth:`RulesEngine.tick` after each scan, all eight rules on;
* ``engine_single``: :meth:`RulesEngine.evaluate` one update at a time (first ``--single`` updates);
* ``naive_baseline``: the spatial part alone, done the naive way: every zone tested with shapely for
  every update (point in each polygon, step against each border line), no index. Run over the first
  ``--naive`` updates; its zone memberships are checked against the index (``agree``).

Run: ``.venv/bin/python bench/rules.py`` (``--tracks 500 --scans 20`` for a quick run). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely

from concord.domain.marking import Marking
from concord.domain.observation import TargetKind
from concord.domain.track import Track, TrackStatus
from concord.domain.zone import SectionImpact, Zone, ZoneKind
from concord.rules import LocalProjection, RulesConfig, RulesEngine

FRAME = LocalProjection(45.0, 20.0)
HALF_M = 100_000.0
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
MARKING = Marking(classification="RESTRICTED", originator="BP", rel_to=frozenset({"BP", "CG", "CUS"}))


def geo(geom: Any) -> Any:
    """A geometry drawn in local metres, as longitude/latitude."""

    def _inv(coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = coords[:, 0] / FRAME.kx + FRAME.lon0
        out[:, 1] = coords[:, 1] / FRAME.ky + FRAME.lat0
        return out

    return shapely.transform(geom, _inv)


def border_x(y: float) -> float:
    """The main border: a wiggly line running north near x = 0."""
    return 3_000.0 * math.sin(y / 7_000.0) + 1_500.0 * math.sin(y / 1_900.0)


def make_zones(rng: random.Random, total: int) -> list[Zone]:
    zones: list[Zone] = []
    ys = np.linspace(-HALF_M * 1.2, HALF_M * 1.2, 801)
    zones.append(
        Zone(
            id="border-main",
            name="Main border",
            kind=ZoneKind.BORDER_LINE,
            geometry=geo(shapely.LineString([(border_x(y), y) for y in ys])),
            impact_level=SectionImpact.MEDIUM,
        )
    )
    for k in range(3):  # river borders to the east, shorter
        x0 = 30_000.0 + 25_000.0 * k
        pts = [(x0 + 2_000.0 * math.sin(y / 3_000.0), y) for y in np.linspace(-60_000, 60_000, 241)]
        zones.append(
            Zone(
                id=f"border-river-{k}",
                name=f"River {k}",
                kind=ZoneKind.BORDER_LINE,
                geometry=geo(shapely.LineString(pts)),
            )
        )
    levels = list(SectionImpact)
    n_sections = 300
    step = 2 * HALF_M / n_sections
    for k in range(n_sections):
        y0 = -HALF_M + k * step
        x = border_x(y0 + step / 2)
        zones.append(
            Zone(
                id=f"section-{k}",
                name=f"Section {k}",
                kind=ZoneKind.BORDER_SECTION,
                geometry=geo(shapely.box(x - 6_000, y0, x + 6_000, y0 + step)),
                impact_level=levels[k % 4],
            )
        )
    for k in range(60):  # AORs: big, overlapping
        cx, cy = rng.uniform(-HALF_M, HALF_M), rng.uniform(-HALF_M, HALF_M)
        w, h = rng.uniform(15_000, 50_000), rng.uniform(15_000, 50_000)
        zones.append(
            Zone(
                id=f"aor-{k}",
                name=f"AOR {k}",
                kind=ZoneKind.AOR,
                geometry=geo(shapely.box(cx - w, cy - h, cx + w, cy + h)),
                agency=("BP", "CG", "CUS", "POL")[k % 4],
            )
        )
    for k in range(10):
        cx = 40_000.0 + k * 5_000.0
        zones.append(
            Zone(
                id=f"ts-{k}",
                name=f"Territorial sea {k}",
                kind=ZoneKind.TERRITORIAL_SEA if k % 2 == 0 else ZoneKind.CONTIGUOUS_ZONE,
                geometry=geo(shapely.box(cx, -HALF_M, cx + 5_000, HALF_M)),
            )
        )
    for k in range(15):
        cx, cy = rng.uniform(40_000, 90_000), rng.uniform(-HALF_M, HALF_M)
        zones.append(
            Zone(
                id=f"port-{k}",
                name=f"Port {k}",
                kind=ZoneKind.PORT,
                geometry=geo(shapely.Point(cx, cy).buffer(1_500, 8)),
            )
        )
    for k in range(10):
        y = -HALF_M + k * 20_000.0
        zones.append(
            Zone(
                id=f"bcp-{k}",
                name=f"BCP {k}",
                kind=ZoneKind.CROSSING_POINT,
                geometry=geo(shapely.Point(border_x(y), y)),
            )
        )
    k = 0
    while len(zones) < total:
        cx, cy = rng.uniform(-HALF_M, HALF_M), rng.uniform(-HALF_M, HALF_M)
        radius = rng.uniform(300, 3_000)
        vertices = rng.randint(6, 24)
        ring = [
            (
                cx + radius * rng.uniform(0.7, 1.0) * math.cos(2 * math.pi * v / vertices),
                cy + radius * rng.uniform(0.7, 1.0) * math.sin(2 * math.pi * v / vertices),
            )
            for v in range(vertices)
        ]
        zones.append(
            Zone(
                id=f"restricted-{k}",
                name=f"Restricted {k}",
                kind=ZoneKind.RESTRICTED,
                geometry=geo(shapely.Polygon(ring)),
            )
        )
        k += 1
    return zones[:total]


@dataclass(slots=True)
class Mover:
    """One simulated object on a random walk (local metres, heading in radians from north)."""

    id: str
    x: float
    y: float
    heading: float
    speed: float
    target: TargetKind
    identity: str | None
    exercise: bool


def make_stream(rng: random.Random, tracks: int, scans: int, scan_s: float) -> list[list[Track]]:
    kinds = [TargetKind.VESSEL, TargetKind.BOAT, TargetKind.VEHICLE, TargetKind.PERSON, TargetKind.UNKNOWN]
    movers: list[Mover] = []
    for k in range(tracks):
        target = kinds[k % len(kinds)]
        top = {TargetKind.PERSON: 2.0, TargetKind.VEHICLE: 25.0}.get(target, 12.0)
        slow = k % 10 == 0  # some loiter
        identity = (
            f"mmsi:{200000000 + k}" if target in (TargetKind.VESSEL, TargetKind.BOAT) and k % 3 else None
        )
        x = rng.uniform(-15_000, 15_000) if k % 4 == 0 else rng.uniform(-HALF_M, HALF_M)
        movers.append(
            Mover(
                id=f"trk-{k}",
                x=x,
                y=rng.uniform(-HALF_M, HALF_M),
                heading=rng.uniform(0, 2 * math.pi),
                speed=rng.uniform(0.1, 0.8) if slow else rng.uniform(0.5, top),
                target=target,
                identity=identity,
                exercise=k % 50 == 0,
            )
        )
    for k in range(1, tracks, 97):  # pairs of slow vessels side by side: rendezvous
        lead, partner = movers[k - 1], movers[k]
        partner.x, partner.y, partner.heading = lead.x + 50.0, lead.y, lead.heading
        lead.speed = partner.speed = 0.3
        lead.target = partner.target = TargetKind.VESSEL
    for k in range(3, tracks, 211):  # people moving at vehicle speed: speed anomaly
        movers[k].target, movers[k].speed = TargetKind.PERSON, 9.0
    going_dark = {m.id for m in movers[::41] if m.identity}  # AIS vessels that stop reporting
    scans_out: list[list[Track]] = []
    for scan in range(scans):
        batch: list[Track] = []
        for k, m in enumerate(movers):
            if scan >= scans // 5 and m.id in going_dark:
                continue
            m.heading += rng.gauss(0, 0.15)
            ve, vn = m.speed * math.sin(m.heading), m.speed * math.cos(m.heading)
            m.x = max(-HALF_M, min(HALF_M, m.x + ve * scan_s))
            m.y = max(-HALF_M, min(HALF_M, m.y + vn * scan_s))
            lon, lat = FRAME.inverse(m.x, m.y)
            batch.append(
                Track(
                    id=m.id,
                    updated_at=T0 + timedelta(seconds=scan * scan_s + k * scan_s / tracks),
                    lat=lat,
                    lon=lon,
                    vel_east_mps=ve,
                    vel_north_mps=vn,
                    position_sigma_m=25.0,
                    status=TrackStatus.CONFIRMED,
                    marking=MARKING,
                    identity=m.identity,
                    target=m.target,
                    exercise=m.exercise,
                )
            )
        scans_out.append(batch)
    return scans_out


def run_batched(zones: list[Zone], scans: list[list[Track]], scan_s: float) -> dict[str, Any]:
    engine = RulesEngine(zones, RulesConfig(), projection=FRAME)
    events: Counter[str] = Counter()
    updates = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for k, batch in enumerate(scans):
        for event in engine.evaluate_many(batch):
            events[f"{event.type}:{event.alert.kind.value}"] += 1
        for event in engine.tick(T0 + timedelta(seconds=(k + 1) * scan_s)):
            events[f"{event.type}:{event.alert.kind.value}"] += 1
        updates += len(batch)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "updates": updates,
        "seconds": round(elapsed, 3),
        "updates_per_s": round(updates / elapsed),
        "cpu_seconds": round(cpu, 3),
        "updates_per_cpu_s": round(updates / cpu),
        "events": dict(sorted(events.items())),
    }


def run_single(zones: list[Zone], updates: list[Track]) -> dict[str, Any]:
    engine = RulesEngine(zones, RulesConfig(), projection=FRAME)
    start = time.perf_counter()
    cpu_start = time.process_time()
    for track in updates:
        engine.evaluate(track)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "updates": len(updates),
        "seconds": round(elapsed, 3),
        "updates_per_s": round(len(updates) / elapsed),
        "updates_per_cpu_s": round(len(updates) / cpu),
    }


def run_naive(zones: list[Zone], updates: list[Track]) -> dict[str, Any]:
    """Every zone tested with shapely for every update: point in each polygon, step against each line."""
    index = RulesEngine(zones, RulesConfig(), projection=FRAME).index  # only to check the answers
    plain = [FRAME.geometry(z.geometry) for z in zones]  # same coordinates as the index, not prepared
    areas = [(i, g) for i, g in enumerate(plain) if g.geom_type in ("Polygon", "MultiPolygon")]
    lines = [(i, g) for i, g in enumerate(plain) if zones[i].kind is ZoneKind.BORDER_LINE]
    previous: dict[str, tuple[float, float]] = {}
    memberships: list[frozenset[int]] = []
    crossing_steps = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for track in updates:
        x, y = FRAME.forward(track.lon, track.lat)
        point = shapely.Point(x, y)
        memberships.append(frozenset(i for i, geom in areas if geom.intersects(point)))
        prev = previous.get(track.id)
        if prev is not None:
            step = shapely.LineString([prev, (x, y)])
            crossing_steps += sum(1 for _, geom in lines if geom.intersects(step))
        previous[track.id] = (x, y)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    xs = np.array([FRAME.forward(t.lon, t.lat)[0] for t in updates])
    ys = np.array([FRAME.forward(t.lon, t.lat)[1] for t in updates])
    agree = index.locate(xs, ys) == memberships
    return {
        "updates": len(updates),
        "seconds": round(elapsed, 3),
        "updates_per_s": round(len(updates) / elapsed),
        "updates_per_cpu_s": round(len(updates) / cpu),
        "steps_crossing_a_border": crossing_steps,
        "agree": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zones", type=int, default=1_000)
    parser.add_argument("--tracks", type=int, default=3_000)
    parser.add_argument("--scans", type=int, default=60, help="tracker scans (every track once per scan)")
    parser.add_argument("--scan-s", type=float, default=20.0)
    parser.add_argument("--single", type=int, default=30_000, help="updates for the one-at-a-time run")
    parser.add_argument("--naive", type=int, default=3_000, help="updates for the naive baseline")
    parser.add_argument("--naive-scans", type=int, default=10, help="the naive updates span this many scans")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    zones = make_zones(rng, args.zones)
    scans = make_stream(rng, args.tracks, args.scans, args.scan_s)
    flat = [t for batch in scans for t in batch]

    build_start = time.perf_counter()
    RulesEngine(zones, RulesConfig(), projection=FRAME)
    build_s = time.perf_counter() - build_start

    batched = run_batched(zones, scans, args.scan_s)
    single = run_single(zones, flat[: args.single])
    per_scan = max(1, args.naive // args.naive_scans)
    naive_updates = [t for batch in scans[: args.naive_scans] for t in batch[:per_scan]]
    naive = run_naive(zones, naive_updates)
    result = {
        "benchmark": "rules",
        "python": platform.python_version(),
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "zones": len(zones),
        "zone_kinds": dict(Counter(z.kind.value for z in zones)),
        "tracks": args.tracks,
        "index_build_s": round(build_s, 3),
        "engine_batched": batched,
        "engine_single": single,
        "naive_baseline": naive,
        "speedup_batched_vs_naive": round(batched["updates_per_s"] / naive["updates_per_s"], 1),
        "speedup_single_vs_naive": round(single["updates_per_s"] / naive["updates_per_s"], 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
