"""Runs Stone Soup's multi-target tracker on a detections file, for bench/tracking.py.

Run with the interpreter of bench/.venv-stonesoup (Stone Soup is a benchmark-only peer). Reads JSON
Lines detections ``{"t", "x", "y"}``, tracks them with a constant-velocity Kalman filter, Mahalanobis
gating and GNN 2-D assignment, multi-measurement initiation and update-count deletion, and writes the
confirmed tracks per scan as ``{"t", "track_id", "x", "y"}``. Prints one JSON object: timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import stonesoup  # type: ignore[import-not-found]
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment  # type: ignore[import-not-found]
from stonesoup.dataassociator.tree import DetectionKDTreeGNN2D  # type: ignore[import-not-found]
from stonesoup.deleter.time import UpdateTimeStepsDeleter  # type: ignore[import-not-found]
from stonesoup.hypothesiser.distance import DistanceHypothesiser  # type: ignore[import-not-found]
from stonesoup.initiator.simple import MultiMeasurementInitiator  # type: ignore[import-not-found]
from stonesoup.measures import Mahalanobis  # type: ignore[import-not-found]
from stonesoup.models.measurement.linear import LinearGaussian  # type: ignore[import-not-found]
from stonesoup.models.transition.linear import (  # type: ignore[import-not-found]
    CombinedLinearGaussianTransitionModel,
    ConstantVelocity,
)
from stonesoup.predictor.kalman import KalmanPredictor  # type: ignore[import-not-found]
from stonesoup.tracker.simple import MultiTargetTracker  # type: ignore[import-not-found]
from stonesoup.types.detection import Detection  # type: ignore[import-not-found]
from stonesoup.types.state import GaussianState  # type: ignore[import-not-found]
from stonesoup.updater.kalman import KalmanUpdater  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--meas-sigma-m", type=float, required=True)
    parser.add_argument("--process-noise", type=float, required=True)
    parser.add_argument("--gate", type=float, required=True)
    parser.add_argument("--confirm-hits", type=int, required=True)
    parser.add_argument("--confirm-window", type=int, required=True)
    parser.add_argument("--delete-after-misses", type=int, required=True)
    parser.add_argument("--initial-speed-sigma-mps", type=float, required=True)
    parser.add_argument("--max-scans", type=int, default=0)
    parser.add_argument("--kd-radius-m", type=float, default=0.0, help="0: plain GNN 2-D, else kd-tree")
    args = parser.parse_args()

    epoch = datetime(2026, 1, 1)
    scans: list[tuple[float, list[tuple[float, float]]]] = []
    with open(args.input, encoding="utf-8") as handle:
        for text in handle:
            obj = json.loads(text)
            if not scans or scans[-1][0] != obj["t"]:
                if args.max_scans and len(scans) == args.max_scans:
                    break
                scans.append((obj["t"], []))
            scans[-1][1].append((obj["x"], obj["y"]))

    q = args.process_noise
    transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    measurement = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * args.meas_sigma_m**2)
    predictor = KalmanPredictor(transition)
    updater = KalmanUpdater(measurement)
    hypothesiser = DistanceHypothesiser(predictor, updater, measure=Mahalanobis(), missed_distance=args.gate)

    def associator() -> Any:
        if args.kd_radius_m > 0:
            return DetectionKDTreeGNN2D(
                hypothesiser=hypothesiser,
                predictor=predictor,
                updater=updater,
                max_distance=args.kd_radius_m,
            )
        return GNNWith2DAssignment(hypothesiser)

    v2 = args.initial_speed_sigma_mps**2
    initiator = MultiMeasurementInitiator(
        prior_state=GaussianState(np.zeros((4, 1)), np.diag([0.0, v2, 0.0, v2])),
        measurement_model=measurement,
        deleter=UpdateTimeStepsDeleter(args.confirm_window - args.confirm_hits + 1),
        data_associator=associator(),
        updater=updater,
        min_points=args.confirm_hits,
    )
    deleter = UpdateTimeStepsDeleter(args.delete_after_misses)

    frames = []
    for t_s, points in scans:
        when = epoch + timedelta(seconds=t_s)
        frames.append(
            (
                when,
                {
                    Detection(np.array([[x], [y]]), timestamp=when, measurement_model=measurement)
                    for x, y in points
                },
            )
        )

    tracker = MultiTargetTracker(
        initiator=initiator,
        deleter=deleter,
        detector=iter(frames),
        data_associator=associator(),
        updater=updater,
    )
    ids: dict[str, int] = {}
    out = []
    started = time.perf_counter()
    started_cpu = time.process_time()
    for when, tracks in tracker:
        t_s = (when - epoch).total_seconds()
        for track in tracks:
            track_id = ids.setdefault(track.id, len(ids) + 1)
            sv = track.state_vector
            out.append({"t": t_s, "track_id": track_id, "x": float(sv[0, 0]), "y": float(sv[2, 0])})
    elapsed = time.perf_counter() - started
    elapsed_cpu = time.process_time() - started_cpu
    with open(args.output, "w", encoding="utf-8") as handle:
        for record in out:
            handle.write(json.dumps(record) + "\n")
    json.dump(
        {
            "scans": len(scans),
            "detections": sum(len(p) for _, p in scans),
            "tracking_s": elapsed,
            "tracking_cpu_s": elapsed_cpu,
            "stonesoup_version": stonesoup.__version__,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
