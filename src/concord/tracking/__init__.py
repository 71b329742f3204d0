"""The fusion tracker: association, Kalman filtering and track life cycle, metric and geographic."""

from concord.tracking.base import (
    Associator,
    AxisGaussian,
    Deleter,
    Initiator,
    Predictor,
    Updater,
)
from concord.tracking.delete import MissCountDeleter, SilenceDeleter
from concord.tracking.geo import (
    FusionResult,
    GeoConfig,
    GeoTracker,
    LocalFrame,
    Region,
    RejectedObservation,
)
from concord.tracking.gnn import GlobalNearestNeighbour
from concord.tracking.initiate import MOfNInitiator
from concord.tracking.kalman import ConstantVelocityPredictor, PositionUpdater
from concord.tracking.metrics import GospaResult, gospa
from concord.tracking.offline import (
    Detection,
    LineRejected,
    Scan,
    config_for_sensor,
    group_scans,
    parse_detection_line,
    read_detections,
    track_scans,
)
from concord.tracking.tracker import ScanOutcome, Tracker, TrackerConfig, TrackUpdate

__all__ = [
    "Associator",
    "AxisGaussian",
    "ConstantVelocityPredictor",
    "Deleter",
    "Detection",
    "FusionResult",
    "GeoConfig",
    "GeoTracker",
    "GlobalNearestNeighbour",
    "GospaResult",
    "Initiator",
    "LineRejected",
    "LocalFrame",
    "MOfNInitiator",
    "MissCountDeleter",
    "PositionUpdater",
    "Predictor",
    "Region",
    "RejectedObservation",
    "Scan",
    "ScanOutcome",
    "SilenceDeleter",
    "TrackUpdate",
    "Tracker",
    "TrackerConfig",
    "Updater",
    "config_for_sensor",
    "gospa",
    "group_scans",
    "parse_detection_line",
    "read_detections",
    "track_scans",
]
