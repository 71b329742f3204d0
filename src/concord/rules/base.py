"""The contract of a rule: what it is given for each track update and what it gives back.

The engine (:mod:`concord.rules.engine`) computes the spatial facts of a batch of updates at once
(:class:`TrackUpdate`: zones containing the position, border crossings of the last step, borders
nearby) and then calls every rule once per update with the track's :class:`TrackState` as it was
*before* the update. A rule returns :class:`Detection` values; the engine's alert book turns them into
``AlertRaised`` / ``AlertUpdated`` events, one alert per episode. Rules whose event is the absence
of updates (a vessel going dark) also implement :class:`TickingRule` and are called with the clock
time by :meth:`RulesEngine.tick`.

A rule may keep per-track state in the fields of :class:`TrackState` marked as its own, and
cross-track state on itself (so each engine needs its own rule instances); the engine owns the common
fields and updates them after all rules ran. A rule holding cross-track state may define
``forget(state, context)``, which the engine calls before it forgets a track.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from concord.domain.alert import AlertKind, ImpactLevel
from concord.domain.marking import Marking
from concord.domain.track import Track, TrackStatus
from concord.rules._index import Crossing, ZoneIndex
from concord.rules.config import RulesConfig

if TYPE_CHECKING:
    from concord.rules._projection import LocalProjection

__all__ = [
    "Detection",
    "DetectionAction",
    "Rule",
    "RuleContext",
    "TickingRule",
    "TrackState",
    "TrackUpdate",
    "status_factor",
]

DetectionAction = Literal["raise", "update", "end"]


@dataclass(slots=True, kw_only=True)
class TrackUpdate:
    """One track snapshot with the spatial facts the engine computed for it (positions in local metres).

    Rules read it and never change it (it is not frozen only because frozen construction costs a
    measurable share of the per-update budget).
    """

    track: Track
    x: float
    y: float
    speed_mps: float
    zones: frozenset[int]  # polygonal zones containing the position (numbers in ZoneIndex.zones)
    crossings: tuple[Crossing, ...] = ()  # border crossings of the step from the previous position
    near_borders: tuple[tuple[int, float], ...] = ()  # (border zone, distance m), unidentified tracks only
    is_report: bool = True  # False for coasting (predicted) and deleted snapshots

    @property
    def at(self) -> datetime:
        return self.track.updated_at


@dataclass(slots=True, kw_only=True)
class TrackState:
    """What the engine remembers about one track between updates."""

    track_id: str
    # Owned by the engine.
    last: Track | None = None
    x: float = 0.0
    y: float = 0.0
    zones: frozenset[int] | None = None  # None before the first update
    zone_since: dict[int, datetime] = field(default_factory=dict)
    last_report: Track | None = None  # last non-coasting snapshot
    report_x: float = 0.0
    report_y: float = 0.0
    deleted: bool = False
    # Owned by the loitering rule.
    slow_since: datetime | None = None
    loitering_zones: set[int] = field(default_factory=set)
    # Owned by the AIS-dark rule.
    dark_open: bool = False
    dark_checked: bool = False
    # Owned by the rendezvous rule.
    grid_cell: tuple[int, int] | None = None
    partners: set[str] = field(default_factory=set)
    # Owned by the speed-anomaly rule.
    speed_over_count: int = 0
    # Owned by the course-anomaly rule.
    courses: deque[tuple[datetime, float]] = field(default_factory=deque)
    # Owned by the unidentified-near-border rule.
    near_border_since: dict[int, datetime] = field(default_factory=dict)
    near_border_open: set[int] = field(default_factory=set)

    @property
    def updated_at(self) -> datetime | None:
        return None if self.last is None else self.last.updated_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """What a rule saw. ``key`` names the event (without episode); the alert book decides the episode.

    ``action``: ``raise`` opens an episode or folds into the open one (or one that ended less than
    ``rearm_s`` ago); ``update`` folds into an open episode only; ``end`` closes the open episode.
    ``append`` values are appended to lists of the same name in the alert's evidence (capped).
    """

    kind: AlertKind
    key: str
    action: DetectionAction
    at: datetime
    track_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    lat: float
    lon: float
    confidence: float
    impact: ImpactLevel
    marking: Marking
    exercise: bool
    summary: str
    rearm_s: float
    evidence: Mapping[str, Any] = field(default_factory=dict)
    append: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class RuleContext:
    """What every rule may consult: the zones, the thresholds and the other tracks."""

    index: ZoneIndex
    config: RulesConfig
    states: dict[str, TrackState]

    @property
    def projection(self) -> LocalProjection:
        return self.index.projection


@runtime_checkable
class Rule(Protocol):
    """A behaviour rule evaluated on every track update."""

    name: str

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        """Detections for ``update``; ``state`` is the track as it was before the update."""
        ...


@runtime_checkable
class TickingRule(Protocol):
    """A rule that also watches the passing of time (called periodically with the clock time)."""

    name: str

    def tick(self, now: datetime, context: RuleContext) -> Sequence[Detection]:
        """Detections due at ``now`` for lack of updates."""
        ...


_STATUS_FACTOR: dict[TrackStatus, float] = {
    TrackStatus.CONFIRMED: 1.0,
    TrackStatus.COASTING: 0.8,
    TrackStatus.TENTATIVE: 0.7,
    TrackStatus.DELETED: 0.5,
}


def status_factor(track: Track) -> float:
    """How much a track's life-cycle status lets us trust it (scales every rule's confidence)."""
    return _STATUS_FACTOR[track.status]
