"""Benchmark of the fusion tracker against Stone Soup on the same seeded scenario.

Scenario (all defaults overridable): ``--targets`` nearly-constant-velocity targets (white
acceleration ``q = 0.05 m^2/s^3``, initial speed per axis N(0, 5 m/s)) in a square of ``--area-m``
metres, scanned every ``--scan-interval`` s for ``--scans`` scans by a sensor with detection
probability ``--pd``, position error ``--meas-sigma`` m per axis and ``--clutter-per-scan`` false
detections uniform over the square. Both trackers read the same detections file, use the same motion
and measurement models, the same Mahalanobis gate, M-of-N-like confirmation and miss-count deletion.

Reported, per tracker: GOSPA (c = 100 m, p = 1, alpha = 2) between the true positions and the
confirmed tracks, averaged over scans, with its parts; detections per second of the tracking loop
(parsing excluded), by the wall clock and per second of CPU time of the tracking process (the
machine is shared, so the CPU figure is the steadier one); plus the live-path figure: Observation
objects per second through the geographic face (AIS-like identified reports and anonymous radar
plots), measured the same two ways.

Stone Soup is installed by this script into bench/.venv-stonesoup and run in a subprocess there. When
it is too slow for the full run, ``--stonesoup-scans`` limits it (and the side-by-side GOSPA) to the
first scans; the JSON says so.

    .venv/bin/python bench/tracking.py                # full run
    .venv/bin/python bench/tracking.py --targets 100  # quick run
"""

from __future__ import annotations

import os

# One BLAS thread unless the caller says otherwise, for both trackers (the Stone Soup subprocess
# inherits it): on a small shared machine, threaded BLAS on small matrices mostly waits for itself,
# and a tracker worker is deployed one per core. Must be set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.tracking import (
    GeoTracker,
    Region,
    Tracker,
    TrackerConfig,
    gospa,
    group_scans,
    read_detections,
    track_scans,
)

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".venv-stonesoup"
TRUTH_Q_M2PS3 = 0.05
STONESOUP_VERSION = "1.9.1"


def ensure_stonesoup() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import stonesoup; print(stonesoup.__version__)"], capture_output=True, text=True
    )
    if probe.returncode != 0 or probe.stdout.strip() != STONESOUP_VERSION:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"stonesoup=={STONESOUP_VERSION}"], check=True
        )
    return python


def make_scenario(args: argparse.Namespace) -> tuple[list[np.ndarray], list[tuple[float, np.ndarray]]]:
    """Return per-scan true positions and per-scan detections (shuffled, clutter mixed in)."""
    rng = np.random.default_rng(args.seed)
    n, area = args.targets, args.area_m
    pos = rng.uniform(0.0, area, (n, 2))
    vel = rng.normal(0.0, 5.0, (n, 2))
    truths: list[np.ndarray] = []
    scans: list[tuple[float, np.ndarray]] = []
    dt = args.scan_interval
    for k in range(args.scans):
        if k:
            # Exact discretisation of white acceleration over dt, per axis.
            cov = TRUTH_Q_M2PS3 * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
            noise = rng.multivariate_normal(np.zeros(2), cov, size=(n, 2))  # (n, axis, [p, v])
            pos = pos + vel * dt + noise[:, :, 0]
            vel = vel + noise[:, :, 1]
        truths.append(pos.copy())
        seen = rng.random(n) < args.pd
        det = pos[seen] + rng.normal(0.0, args.meas_sigma, (int(seen.sum()), 2))
        clutter = rng.uniform(0.0, area, (rng.poisson(args.clutter_per_scan), 2))
        both = np.vstack((det, clutter))
        rng.shuffle(both)
        scans.append((k * dt, both))
    return truths, scans


def write_detections(path: Path, scans: list[tuple[float, np.ndarray]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for t, z in scans:
            for x, y in z.tolist():
                handle.write(json.dumps({"t": t, "x": round(x, 3), "y": round(y, 3)}) + "\n")
                count += 1
    return count


def score(truths: list[np.ndarray], times: list[float], records: list[dict[str, Any]]) -> dict[str, float]:
    by_t: dict[float, list[tuple[float, float]]] = {}
    for r in records:
        by_t.setdefault(float(r["t"]), []).append((r["x"], r["y"]))
    results = [
        gospa(truth, np.array(by_t.get(t, []), dtype=np.float64).reshape(-1, 2), c_m=100.0, p=1.0)
        for truth, t in zip(truths, times, strict=True)
    ]
    return {
        "scans_scored": len(results),
        "mean_gospa_m": float(np.mean([r.gospa_m for r in results])),
        "mean_localisation_m": float(np.mean([r.localisation_m for r in results])),
        "mean_missed": float(np.mean([r.missed for r in results])),
        "mean_false": float(np.mean([r.false for r in results])),
        "final_gospa_m": results[-1].gospa_m if results else 0.0,
    }


def run_concord(path: Path, config: TrackerConfig) -> tuple[list[dict[str, Any]], float, float, int]:
    with path.open(encoding="utf-8") as handle:
        detections, rejected = read_detections(handle)
    assert not rejected
    scans = group_scans(detections)
    tracker = Tracker.from_config(config)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    started_cpu = time.process_time()
    for out in track_scans(scans, tracker):
        records.extend(out)
    return records, time.perf_counter() - started, time.process_time() - started_cpu, len(detections)


def run_stonesoup(
    python: Path, path: Path, out: Path, config: TrackerConfig, max_scans: int, kd_radius_m: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cmd = [
        str(python),
        str(BENCH_DIR / "_stonesoup_driver.py"),
        "--input", str(path),
        "--output", str(out),
        "--meas-sigma-m", str(config.meas_sigma_m),
        "--process-noise", str(config.process_noise_m2ps3),
        "--gate", str(config.gate_mahalanobis),
        "--confirm-hits", str(config.confirm_hits),
        "--confirm-window", str(config.confirm_window),
        "--delete-after-misses", str(config.delete_after_misses),
        "--initial-speed-sigma-mps", str(config.initial_speed_sigma_mps),
        "--max-scans", str(max_scans),
        "--kd-radius-m", str(kd_radius_m),
    ]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    stats = json.loads(done.stdout)
    with out.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return records, stats


def live_path(args: argparse.Namespace) -> dict[str, Any]:
    """Observations per second from Observation objects to Track snapshots (geographic face)."""
    rng = np.random.default_rng(args.seed + 1)
    region = Region(name="bench", origin_lat=54.0, origin_lon=10.0, radius_m=200_000.0)
    tracker = GeoTracker(region, TrackerConfig(meas_sigma_m=30.0, process_noise_m2ps3=0.05))
    vessels = args.live_vessels
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lat0 = 54.0 + rng.uniform(-0.5, 0.5, vessels)
    lon0 = 10.0 + rng.uniform(-0.8, 0.8, vessels)
    vlat = rng.normal(0.0, 5e-5, vessels)
    vlon = rng.normal(0.0, 8e-5, vessels)
    markings = [Marking.default_for("CG"), Marking.default_for("BP"), Marking.default_for("CUS")]
    observations: list[Observation] = []
    per_vessel = max(1, args.live_observations // vessels)
    for k in range(per_vessel):
        when = start + timedelta(seconds=10.0 * k)
        for i in range(vessels):
            radar = (i + k) % 4 == 0
            observations.append(
                Observation(
                    id=f"o{k}-{i}",
                    source="radar:CG-R1" if radar else "ais:CG-coastal",
                    agency="CG" if radar else "BP",
                    sensor=SensorKind.RADAR if radar else SensorKind.AIS,
                    observed_at=when + timedelta(milliseconds=int(rng.integers(0, 9000))),
                    lat=float(lat0[i] + vlat[i] * 10.0 * k + rng.normal(0, 2e-4)),
                    lon=float(lon0[i] + vlon[i] * 10.0 * k + rng.normal(0, 3e-4)),
                    marking=markings[(i + k) % 3],
                    position_sigma_m=30.0,
                    identity=None if radar else f"mmsi:{211000000 + i}",
                    target=TargetKind.VESSEL,
                )
            )
    batch = args.live_batch
    snapshots = 0
    started = time.perf_counter()
    started_cpu = time.process_time()
    for i in range(0, len(observations), batch):
        result = tracker.process(observations[i : i + batch])
        snapshots += len(result.tracks)
    elapsed = time.perf_counter() - started
    elapsed_cpu = time.process_time() - started_cpu
    return {
        "observations": len(observations),
        "vessels": vessels,
        "batch": batch,
        "share_anonymous_radar": 0.25,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(elapsed_cpu, 3),
        "observations_per_s": round(len(observations) / elapsed),
        "observations_per_cpu_s": round(len(observations) / elapsed_cpu),
        "track_snapshots": snapshots,
        "live_tracks": len(tracker),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--pd", type=float, default=0.9)
    parser.add_argument("--meas-sigma", type=float, default=10.0)
    parser.add_argument("--clutter-per-scan", type=float, default=200.0)
    parser.add_argument("--scan-interval", type=float, default=5.0)
    parser.add_argument("--area-m", type=float, default=20_000.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stonesoup-scans", type=int, default=0, help="0 = all scans")
    parser.add_argument(
        "--stonesoup-associator", choices=("kdtree", "plain"), default="kdtree",
        help="kdtree: DetectionKDTreeGNN2D (GNN 2-D, pairs pre-filtered by a kd-tree); "
        "plain: GNNWith2DAssignment",
    )  # fmt: skip
    parser.add_argument("--skip-stonesoup", action="store_true")
    parser.add_argument("--live-observations", type=int, default=100_000)
    parser.add_argument("--live-vessels", type=int, default=2_000)
    parser.add_argument("--live-batch", type=int, default=5_000)
    args = parser.parse_args()

    truths, scans = make_scenario(args)
    times = [t for t, _ in scans]
    config = TrackerConfig(
        meas_sigma_m=args.meas_sigma,
        process_noise_m2ps3=TRUTH_Q_M2PS3,
        gate_mahalanobis=4.0,
        confirm_hits=3,
        confirm_window=5,
        delete_after_misses=3,
        initial_speed_sigma_mps=10.0,
        oos_window_s=0.0,
    )
    result: dict[str, Any] = {
        "scenario": {
            "targets": args.targets,
            "scans": args.scans,
            "scan_interval_s": args.scan_interval,
            "pd": args.pd,
            "meas_sigma_m": args.meas_sigma,
            "clutter_per_scan": args.clutter_per_scan,
            "area_m": [args.area_m, args.area_m],
            "truth_process_noise_m2ps3": TRUTH_Q_M2PS3,
            "seed": args.seed,
        },
        "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "tracker_config": {k: v for k, v in asdict(config).items() if k != "max_silent_s"},
        "gospa": {"c_m": 100.0, "p": 1, "alpha": 2},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "detections.jsonl"
        result["scenario"]["detections"] = write_detections(path, scans)
        records, elapsed, elapsed_cpu, count = run_concord(path, config)
        concord: dict[str, Any] = {
            "tracking_s": round(elapsed, 3),
            "tracking_cpu_s": round(elapsed_cpu, 3),
            "detections_per_s": round(count / elapsed),
            "detections_per_cpu_s": round(count / elapsed_cpu),
        }
        concord.update(score(truths, times, records))
        result["concord"] = concord
        if not args.skip_stonesoup:
            python = ensure_stonesoup()
            limit = args.stonesoup_scans or args.scans
            kd_radius = 0.0
            if args.stonesoup_associator == "kdtree":
                # Wide enough to hold every pair inside the gate of a new track one scan later.
                kd_radius = (
                    4.0
                    * float(
                        np.sqrt(
                            2 * args.meas_sigma**2
                            + (config.initial_speed_sigma_mps * args.scan_interval) ** 2
                        )
                    )
                    * 1.5
                )
            ss_records, stats = run_stonesoup(
                python, path, Path(tmp) / "stonesoup.jsonl", config, limit, kd_radius
            )
            stone = {
                "version": stats["stonesoup_version"],
                "associator": "DetectionKDTreeGNN2D" if kd_radius else "GNNWith2DAssignment",
                "kd_radius_m": round(kd_radius, 1),
                "scans_run": stats["scans"],
                "time_slice": stats["scans"] < args.scans,
                "tracking_s": round(stats["tracking_s"], 3),
                "tracking_cpu_s": round(stats["tracking_cpu_s"], 3),
                "detections_per_s": round(stats["detections"] / stats["tracking_s"]),
                "detections_per_cpu_s": round(stats["detections"] / stats["tracking_cpu_s"]),
            }
            stone.update(score(truths[:limit], times[:limit], ss_records))
            result["stonesoup"] = stone
            if limit < args.scans:
                # Score Concord on the same slice so the GOSPA columns compare like with like.
                sliced = [r for r in records if r["t"] <= times[limit - 1]]
                result["concord_same_slice"] = score(truths[:limit], times[:limit], sliced)
            ours = result["concord_same_slice"] if limit < args.scans else concord
            result["comparison"] = {
                "speedup_detections_per_s": round(concord["detections_per_s"] / stone["detections_per_s"], 1),
                "speedup_detections_per_cpu_s": round(
                    concord["detections_per_cpu_s"] / stone["detections_per_cpu_s"], 1
                ),
                "gospa_concord_minus_stonesoup_m": round(ours["mean_gospa_m"] - stone["mean_gospa_m"], 3),
            }
    result["live_path"] = live_path(args)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
