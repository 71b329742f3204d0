"""The vocabulary of Concord: pure Python, no I/O, no framework, no clock reads."""

from concord.domain.errors import (
    ConcordError,
    Conflict,
    FeedParseError,
    InvalidInput,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    PolicyError,
    RateLimited,
    Unavailable,
)
from concord.domain.identity import Agency, AgencyKind, Role, User, Viewer
from concord.domain.marking import DEFAULT_LADDER, ClassificationLadder, Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.ports import Bus, Clock
from concord.domain.track import Track, TrackStatus

__all__ = [
    "DEFAULT_LADDER",
    "Agency",
    "AgencyKind",
    "Bus",
    "ClassificationLadder",
    "Clock",
    "ConcordError",
    "Conflict",
    "FeedParseError",
    "InvalidInput",
    "Marking",
    "NotAuthenticated",
    "NotAuthorized",
    "NotFound",
    "Observation",
    "PolicyError",
    "RateLimited",
    "Role",
    "SensorKind",
    "TargetKind",
    "Tlp",
    "Track",
    "TrackStatus",
    "Unavailable",
    "User",
    "Viewer",
]
