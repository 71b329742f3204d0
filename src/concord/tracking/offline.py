"""Offline tracking of position-only detections in a local metric frame (the ``concord track`` core).

Input is JSON Lines, one detection per line: ``{"t": seconds, "x": metres, "y": metres}`` (other keys
are ignored). Lines that are not such an object are rejected with their line number and reason.
Detections are grouped into scans: consecutive lines with the same ``t``, or, with a scan interval,
all detections in the same interval ``[k S, (k + 1) S)`` (each keeps its own time). Output is, for
every scan, each confirmed track (coasting ones included) at the scan time:
``{"t": seconds, "track_id": int, "x": metres, "y": metres}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from concord.domain.errors import FeedParseError, InvalidInput
from concord.domain.track import TrackStatus
from concord.tracking.base import FloatArray
from concord.tracking.tracker import Tracker, TrackerConfig

__all__ = [
    "MAX_ABS_POSITION_M",
    "MAX_ABS_TIME_S",
    "MAX_LINE_CHARS",
    "Detection",
    "LineRejected",
    "Scan",
    "config_for_sensor",
    "group_scans",
    "parse_detection_line",
    "read_detections",
    "track_scans",
]

MAX_LINE_CHARS = 65_536
MAX_ABS_POSITION_M = 1.0e7  # a local frame spans at most 10,000 km
MAX_ABS_TIME_S = 1.0e11  # about 3,000 years either side of the epoch


@dataclass(frozen=True, slots=True)
class Detection:
    t_s: float
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class LineRejected:
    """A line of the input that is not a valid detection."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Scan:
    time_s: float
    t_s: FloatArray  # (m,)
    z_m: FloatArray  # (m, 2)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _number(obj: dict[str, Any], key: str, limit: float) -> float:
    if key not in obj:
        raise ValueError(f"missing key {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key!r} must be finite")
    # Compare before converting: a huge JSON integer does not fit a float.
    if abs(value) > limit:
        raise ValueError(f"{key!r} is out of range (|{key}| <= {limit:g})")
    return float(value)


def _refuse(line: int, reason: str) -> FeedParseError:
    return FeedParseError(f"line {line}: {reason}", details={"line": line, "reason": reason})


def parse_detection_line(text: str, line: int) -> Detection:
    """Parse one input line; raise :class:`FeedParseError` naming the line and the reason."""
    if len(text) > MAX_LINE_CHARS:
        raise _refuse(line, f"longer than {MAX_LINE_CHARS} characters")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _refuse(line, f"not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise _refuse(line, "expected a JSON object")
    try:
        return Detection(
            _number(obj, "t", MAX_ABS_TIME_S),
            _number(obj, "x", MAX_ABS_POSITION_M),
            _number(obj, "y", MAX_ABS_POSITION_M),
        )
    except ValueError as exc:
        raise _refuse(line, str(exc)) from exc


def read_detections(lines: Iterable[str]) -> tuple[list[Detection], list[LineRejected]]:
    """Parse every non-blank line; return the detections and the rejected lines."""
    detections: list[Detection] = []
    rejected: list[LineRejected] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            detections.append(parse_detection_line(text, number))
        except FeedParseError as exc:
            rejected.append(LineRejected(number, str(exc.details.get("reason", exc.message))))
    return detections, rejected


def group_scans(detections: list[Detection], scan_interval_s: float | None = None) -> list[Scan]:
    """Group detections, in arrival order, into scans (see the module docstring)."""
    if scan_interval_s is not None and not (math.isfinite(scan_interval_s) and scan_interval_s > 0):
        raise InvalidInput("scan interval must be a positive number", details={"field": "scan_interval_s"})
    scans: list[Scan] = []
    current: list[Detection] = []
    current_key: float | None = None

    def flush() -> None:
        if current:
            t = np.array([d.t_s for d in current])
            z = np.array([[d.x_m, d.y_m] for d in current])
            scans.append(Scan(time_s=float(t.max()), t_s=t, z_m=z))

    for det in detections:
        key = det.t_s if scan_interval_s is None else math.floor(det.t_s / scan_interval_s)
        if key != current_key:
            flush()
            current = []
            current_key = key
        current.append(det)
    flush()
    return scans


def config_for_sensor(
    base: TrackerConfig,
    *,
    pd: float | None = None,
    meas_sigma_m: float | None = None,
    clutter_per_scan: float | None = None,
    scan_interval_s: float | None = None,
    surveillance_area_m2: float | None = None,
) -> TrackerConfig:
    """Derive track management from a sensor description.

    - ``meas_sigma_m`` sets the measurement error.
    - ``pd`` (detection probability) sets ``delete_after_misses``: the fewest misses in a row that a
      real target shows with probability below 1e-3, ``ceil(ln 1e-3 / ln(1 - pd))``, within [2, 20];
      it also caps M at ``floor(pd * N)`` so a real target can confirm.
    - ``clutter_per_scan`` over ``surveillance_area_m2`` gives the clutter density; with the gate area
      of a new track one scan (``scan_interval_s``) later, it gives the chance ``q`` that clutter falls
      in a tentative track's gate. M is then the smallest value whose chance of M-of-N by clutter alone,
      a binomial tail with ``N - 1`` trials of ``q``, is below 1e-4.
    """
    config = base
    if meas_sigma_m is not None:
        config = replace(config, meas_sigma_m=meas_sigma_m)
    if pd is not None:
        if not (0.0 < pd <= 1.0):
            raise InvalidInput("pd must be in (0, 1]", details={"field": "pd"})
        misses = 2 if pd >= 1.0 else math.ceil(math.log(1e-3) / math.log(1.0 - pd))
        config = replace(config, delete_after_misses=min(max(misses, 2), 20))
    if clutter_per_scan is not None:
        if not (math.isfinite(clutter_per_scan) and clutter_per_scan >= 0):
            raise InvalidInput("clutter per scan must be >= 0", details={"field": "clutter_per_scan"})
        if surveillance_area_m2 and surveillance_area_m2 > 0 and clutter_per_scan > 0:
            interval = scan_interval_s or 1.0
            s_m2 = config.meas_sigma_m**2 * 2 + (config.initial_speed_sigma_mps * interval) ** 2
            gate_area_m2 = math.pi * config.gate_mahalanobis**2 * s_m2
            q = min(1.0, clutter_per_scan / surveillance_area_m2 * gate_area_m2)
            n = config.confirm_window
            m = n
            for candidate in range(2, n + 1):
                if _binomial_tail(n - 1, q, candidate - 1) < 1e-4:
                    m = candidate
                    break
            config = replace(config, confirm_hits=m)
    if pd is not None:
        cap = max(1, math.floor(pd * config.confirm_window))
        config = replace(config, confirm_hits=min(config.confirm_hits, cap))
    return replace(config)  # re-run validation


def _binomial_tail(trials: int, p: float, at_least: int) -> float:
    return sum(math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(at_least, trials + 1))


def track_scans(scans: Iterable[Scan], tracker: Tracker) -> Iterator[list[dict[str, Any]]]:
    """Run the tracker over the scans; yield, per scan, the confirmed tracks as output records."""
    confirmed = (TrackStatus.CONFIRMED, TrackStatus.COASTING)
    for scan in scans:
        same_time = bool((scan.t_s == scan.time_s).all())
        updates = tracker.step(scan.time_s, scan.z_m, t_s=None if same_time else scan.t_s)
        yield [
            {"t": u.time_s, "track_id": u.track_id, "x": round(u.x_m, 3), "y": round(u.y_m, 3)}
            for u in updates
            if u.status in confirmed
        ]
