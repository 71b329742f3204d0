"""Key performance indicators computed from the journal (and the audit log's release decisions).

Nothing here reads a database or a clock: give :func:`compute_kpis` the journal events of the period
(or of one exercise) and the release decisions, and it returns the same :class:`KpiReport` every time,
which is what makes a replayed journal reproduce a drill's figures exactly.

Definitions (all times in seconds):

- time to detect: ground-truth event (drills only) -> first matching alert recorded in the journal;
- time to acknowledge: alert recorded -> acknowledged;
- time to first response: alert raised -> first human action on it (acknowledgement or incident);
- time to resolve: incident opened -> closed;
- SLA compliance: share of expected-response checks met (an exercise's plan), or of alerts acknowledged
  within the target (live operations);
- sharing latency: alert created -> first released to a partner agency (audit release decisions);
- detection effectiveness: caught / (caught + missed) over scorable ground-truth events;
- false-alarm ratio per sensor type: sensor reports with no true target / all reports (drills only).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from concord.domain.events import JournalEvent
from concord.domain.types import ensure_utc
from concord.drills.events import DrillEnded, DrillInjected, DrillStarted, DrillTruthRecorded
from concord.sharing import ReleaseDecision

__all__ = [
    "ALERT_FOR_TRUTH",
    "AlertFacts",
    "Check",
    "KpiReport",
    "KpiTargets",
    "Stat",
    "TruthMatch",
    "compute_kpis",
    "exercise_events",
    "haversine_m",
]

ALERT_FOR_TRUTH: Mapping[str, frozenset[str]] = {
    "crossed-border": frozenset({"border-crossing"}),
    "went-dark": frozenset({"ais-dark"}),
    "landed": frozenset({"border-crossing", "unidentified-near-border"}),
    "rendezvous-started": frozenset({"rendezvous"}),
}
"""Which alert kinds count as detecting each kind of ground-truth event."""

_SCORABLE_ALERTS = frozenset(k for kinds in ALERT_FOR_TRUTH.values() for k in kinds)
MATCH_RADIUS_M = 5000.0
MATCH_BEFORE_S = 120.0  # an interpolated crossing time may precede the truth by a little noise
MATCH_WINDOW_S = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiTargets:
    """Targets for live operations (an exercise uses its plan's expectations)."""

    acknowledge_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Stat:
    count: int
    mean_s: float | None
    median_s: float | None
    max_s: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        vals = sorted(values)
        if not vals:
            return cls(0, None, None, None)
        return cls(
            len(vals), round(statistics.fmean(vals), 3), round(statistics.median(vals), 3), round(vals[-1], 3)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean_s": self.mean_s, "median_s": self.median_s, "max_s": self.max_s}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFacts:
    """What the journal says about one alert."""

    id: str
    kind: str
    agency: str
    raised_at: datetime
    lat: float
    lon: float
    identity: str | None
    summary: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    incident_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def first_response_at(self) -> datetime | None:
        times = [t for t in (self.acknowledged_at, self.incident_at) if t is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthMatch:
    """One scorable ground-truth event and the alert that caught it (if any)."""

    kind: str
    at: datetime
    truth_ids: tuple[str, ...]
    lat: float | None
    lon: float | None
    alert_id: str | None
    detect_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One expected response of an exercise plan, and whether it was met."""

    inject: str
    measure: str  # detect, acknowledge, incident
    target_s: float
    actual_s: float | None
    alert_id: str | None = None

    @property
    def met(self) -> bool:
        return self.actual_s is not None and self.actual_s <= self.target_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "inject": self.inject,
            "measure": self.measure,
            "target_s": self.target_s,
            "actual_s": self.actual_s,
            "met": self.met,
            "alert_id": self.alert_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiReport:
    scope: str  # "live" or "exercise"
    exercise_id: str | None
    start: datetime | None
    end: datetime | None
    overall: Mapping[str, Stat]
    per_agency: Mapping[str, Mapping[str, Stat]]
    alerts: int
    caught: int
    missed: int
    checks: tuple[Check, ...]
    sharing_latency: Stat
    share_volume_by_agreement: Mapping[str, int]
    share_volume_by_pair: Mapping[str, int]
    sensor_false_alarms: Mapping[str, Mapping[str, float]]
    unmatched_alerts: int
    truth: tuple[TruthMatch, ...] = ()
    share_latencies: Mapping[str, float] = field(default_factory=dict)  # "alert id->agency": seconds
    alert_facts: tuple[AlertFacts, ...] = field(default=(), repr=False)

    @property
    def detection_effectiveness(self) -> float | None:
        total = self.caught + self.missed
        return round(self.caught / total, 4) if total else None

    @property
    def sla_compliance(self) -> float | None:
        if not self.checks:
            return None
        return round(sum(1 for c in self.checks if c.met) / len(self.checks), 4)

    @property
    def alert_false_alarm_ratio(self) -> float | None:
        """Alerts of kinds that score ground truth but matched none, over all alerts of those kinds."""
        scorable = sum(1 for a in self.alert_facts if a.kind in _SCORABLE_ALERTS)
        if self.scope != "exercise" or not scorable:
            return None
        return round(self.unmatched_alerts / scorable, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "exercise_id": self.exercise_id,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "overall": {k: v.to_dict() for k, v in self.overall.items()},
            "per_agency": {
                a: {k: v.to_dict() for k, v in m.items()} for a, m in sorted(self.per_agency.items())
            },
            "alerts": self.alerts,
            "detection": {
                "caught": self.caught,
                "missed": self.missed,
                "effectiveness": self.detection_effectiveness,
            },
            "sla": {
                "met": sum(1 for c in self.checks if c.met),
                "total": len(self.checks),
                "compliance": self.sla_compliance,
                "checks": [c.to_dict() for c in self.checks],
            },
            "sharing": {
                "latency": self.sharing_latency.to_dict(),
                "volume_by_agreement": dict(sorted(self.share_volume_by_agreement.items())),
                "volume_by_pair": dict(sorted(self.share_volume_by_pair.items())),
                "latencies": dict(sorted(self.share_latencies.items())),
            },
            "false_alarms": {
                "by_sensor": {k: dict(v) for k, v in sorted(self.sensor_false_alarms.items())},
                "unmatched_alerts": self.unmatched_alerts if self.scope == "exercise" else None,
                "alert_ratio": self.alert_false_alarm_ratio,
            },
            "truth": [
                {
                    "kind": t.kind,
                    "at": t.at.isoformat(),
                    "truth_ids": list(t.truth_ids),
                    "alert_id": t.alert_id,
                    "detect_s": t.detect_s,
                }
                for t in self.truth
            ],
        }


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def _t(value: Any) -> datetime:
    return ensure_utc(datetime.fromisoformat(str(value)))


def exercise_events(events: Iterable[JournalEvent], exercise_id: str) -> list[JournalEvent]:
    """The exercise events from ``exercise_id``'s DrillStarted to its DrillEnded (inclusive)."""
    out: list[JournalEvent] = []
    inside = False
    for ev in events:
        if not ev.exercise:
            continue
        if ev.type == DrillStarted.type and ev.payload.get("exercise_id") == exercise_id:
            inside = True
            out = [ev]  # a re-run of the same exercise id supersedes the earlier one
            continue
        if not inside:
            continue
        out.append(ev)
        if ev.type == DrillEnded.type and ev.payload.get("exercise_id") == exercise_id:
            inside = False
    return out


def _alert_facts(events: Sequence[JournalEvent]) -> dict[str, AlertFacts]:
    facts: dict[str, AlertFacts] = {}
    acks: dict[str, tuple[datetime, str]] = {}
    incidents: dict[str, datetime] = {}
    ended: dict[str, datetime] = {}
    for ev in events:
        p = ev.payload
        if ev.type == "AlertRaised":
            a = p["alert"]
            evidence = a.get("evidence") or {}
            identity = evidence.get("identity")
            facts.setdefault(
                str(a["id"]),
                AlertFacts(
                    id=str(a["id"]),
                    kind=str(a["kind"]),
                    agency=ev.agency,
                    # When the alert reached the system (the rules may date a crossing a little earlier).
                    raised_at=ev.recorded_at or _t(a["raised_at"]),
                    lat=float(a["lat"]),
                    lon=float(a["lon"]),
                    identity=None if identity is None else str(identity),
                    summary=str(a.get("summary", "")),
                ),
            )
        elif ev.type == "AlertAcknowledged":
            acks.setdefault(str(p["alert_id"]), (_t(p["at"]), str(p["user_id"])))
        elif ev.type == "AlertUpdated" and p.get("reason") == "ended":
            ended.setdefault(str(p["alert"]["id"]), _t(p["alert"]["updated_at"]))
        elif ev.type == "incident.opened":
            for alert_id in p.get("alert_ids", ()):
                incidents.setdefault(str(alert_id), ev.occurred_at)
        elif ev.type == "incident.alert-linked" and p.get("alert_id"):
            incidents.setdefault(str(p["alert_id"]), ev.occurred_at)
    out: dict[str, AlertFacts] = {}
    for alert_id, f in facts.items():
        ack = acks.get(alert_id)
        out[alert_id] = AlertFacts(
            id=f.id,
            kind=f.kind,
            agency=f.agency,
            raised_at=f.raised_at,
            lat=f.lat,
            lon=f.lon,
            identity=f.identity,
            summary=f.summary,
            acknowledged_at=ack[0] if ack else None,
            acknowledged_by=ack[1] if ack else None,
            incident_at=incidents.get(alert_id),
            ended_at=ended.get(alert_id),
        )
    return out


def _resolutions(events: Sequence[JournalEvent]) -> list[tuple[str, float]]:
    opened: dict[str, tuple[datetime, str]] = {}
    out: list[tuple[str, float]] = []
    for ev in events:
        p = ev.payload
        if ev.type == "incident.opened":
            opened.setdefault(str(p["incident_id"]), (ev.occurred_at, str(p.get("lead_agency", ev.agency))))
        elif ev.type == "incident.status-changed" and p.get("to_status") == "closed":
            start = opened.pop(str(p["incident_id"]), None)
            if start is not None:
                out.append((start[1], (ev.occurred_at - start[0]).total_seconds()))
    return out


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds(), 3)


def _match(
    kind: str,
    at: datetime,
    lat: float | None,
    lon: float | None,
    identity: str | None,
    alerts: Sequence[AlertFacts],
) -> AlertFacts | None:
    wanted = ALERT_FOR_TRUTH.get(kind, frozenset())
    best: AlertFacts | None = None
    for a in alerts:
        if a.kind not in wanted:
            continue
        dt = (a.raised_at - at).total_seconds()
        if not -MATCH_BEFORE_S <= dt <= MATCH_WINDOW_S:
            continue
        if identity is not None and a.identity is not None:
            if a.identity != identity:
                continue
        elif lat is not None and lon is not None and haversine_m(lat, lon, a.lat, a.lon) > MATCH_RADIUS_M:
            continue
        if best is None or a.raised_at < best.raised_at:
            best = a
    return best


def compute_kpis(
    events: Sequence[JournalEvent],
    decisions: Sequence[ReleaseDecision] = (),
    *,
    exercise_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    targets: KpiTargets | None = None,
    exercise: bool = False,
) -> KpiReport:
    """KPIs of one exercise, or of the events of a period: live ones, or exercise ones with ``exercise``.

    Without ``exercise_id`` the events given are taken as they are (filtered by flag and period), which
    is how an after-action review of a single incident scores just that incident's events.
    """
    targets = targets or KpiTargets()
    if exercise_id is not None:
        scoped = exercise_events(events, exercise_id)
    else:
        scoped = [
            e
            for e in events
            if e.exercise == exercise
            and (start is None or e.occurred_at >= start)
            and (end is None or e.occurred_at < end)
        ]
    facts = _alert_facts(scoped)
    alerts = sorted(facts.values(), key=lambda a: (a.raised_at, a.id))

    # Ground truth of a drill, with the identities its injects gave away (an MMSI going dark).
    identity_of: dict[str, str] = {}
    injects: dict[str, DrillInjected] = {}
    plan: Mapping[str, Any] = {}
    sensor_stats: Mapping[str, Mapping[str, int]] = {}
    truth_raw: list[Mapping[str, Any]] = []
    for ev in scoped:
        if ev.type == DrillStarted.type:
            plan = DrillStarted.from_dict(ev.payload).plan
        elif ev.type == DrillInjected.type:
            inj = DrillInjected.from_dict(ev.payload)
            injects[inj.inject_id] = inj
            if inj.details.get("truth_id") and inj.details.get("mmsi"):
                identity_of[str(inj.details["truth_id"])] = f"mmsi:{inj.details['mmsi']}"
        elif ev.type == DrillTruthRecorded.type:
            truth_raw.extend(DrillTruthRecorded.from_dict(ev.payload).events)
        elif ev.type == DrillEnded.type:
            sensor_stats = DrillEnded.from_dict(ev.payload).sensor_stats

    truth: list[TruthMatch] = []
    matched_alerts: set[str] = set()
    for raw in truth_raw:
        kind = str(raw["kind"])
        if kind not in ALERT_FOR_TRUTH:
            continue
        at = _t(raw["at"])
        ids = tuple(str(t) for t in raw.get("truth_ids", ()))
        lat, lon = raw.get("lat"), raw.get("lon")
        identity = next((identity_of[t] for t in ids if t in identity_of), None)
        hit = _match(kind, at, lat, lon, identity, alerts)
        if hit is not None:
            matched_alerts.add(hit.id)
        truth.append(
            TruthMatch(
                kind=kind,
                at=at,
                truth_ids=ids,
                lat=lat,
                lon=lon,
                alert_id=hit.id if hit else None,
                detect_s=_secs(at, hit.raised_at) if hit else None,
            )
        )

    metrics: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for t in truth:
        if t.alert_id is not None and t.detect_s is not None:
            metrics["time_to_detect"].append((facts[t.alert_id].agency, t.detect_s))
    for a in alerts:
        tta = _secs(a.raised_at, a.acknowledged_at)
        if tta is not None:
            metrics["time_to_acknowledge"].append((a.agency, tta))
        tfr = _secs(a.raised_at, a.first_response_at)
        if tfr is not None:
            metrics["time_to_first_response"].append((a.agency, tfr))
    for agency, seconds in _resolutions(scoped):
        metrics["time_to_resolve"].append((agency, round(seconds, 3)))

    names = ("time_to_detect", "time_to_acknowledge", "time_to_first_response", "time_to_resolve")
    overall = {n: Stat.of(v for _, v in metrics[n]) for n in names}
    agencies = sorted({a for n in names for a, _ in metrics[n]} | {a.agency for a in alerts})
    per_agency = {ag: {n: Stat.of(v for a, v in metrics[n] if a == ag) for n in names} for ag in agencies}

    checks = (
        _checks(plan, injects, truth_raw, alerts, scoped)
        if exercise_id is not None
        else _live_checks(alerts, targets)
    )

    # Sharing: an alert created -> first released to each partner agency.
    created = {a.id: (a.raised_at, a.agency) for a in alerts}
    first_release: dict[tuple[str, str], datetime] = {}
    by_agreement: dict[str, int] = defaultdict(int)
    by_pair: dict[str, int] = defaultdict(int)
    want_exercise = exercise_id is not None or exercise
    for d in decisions:
        if d.decision == "withheld" or d.exercise != want_exercise or d.viewer_agency == d.originator:
            continue
        if d.record_kind == "alert" and d.record_id not in created:
            continue
        if exercise_id is None and (
            (start is not None and d.at < start) or (end is not None and d.at >= end)
        ):
            continue
        for agreement in d.agreement_ids or ("(none)",):
            by_agreement[agreement] += 1
        by_pair[f"{d.originator}->{d.viewer_agency}"] += 1
        if d.record_kind == "alert":
            key = (d.record_id, d.viewer_agency)
            if key not in first_release or d.at < first_release[key]:
                first_release[key] = d.at
    share_latencies = {
        f"{rid}->{agency}": round(max(0.0, (at - created[rid][0]).total_seconds()), 3)
        for (rid, agency), at in first_release.items()
    }
    latencies = list(share_latencies.values())

    sensors: dict[str, dict[str, float]] = {}
    for sensor, stats in sensor_stats.items():
        n = int(stats.get("observations", 0))
        f = int(stats.get("false_alarms", 0))
        sensors[sensor] = {"observations": n, "false_alarms": f, "ratio": round(f / n, 4) if n else 0.0}

    caught = sum(1 for t in truth if t.alert_id is not None)
    return KpiReport(
        scope="exercise" if exercise_id is not None or exercise else "live",
        exercise_id=exercise_id,
        start=scoped[0].occurred_at if exercise_id is not None and scoped else start,
        end=scoped[-1].occurred_at if exercise_id is not None and scoped else end,
        overall=overall,
        per_agency=per_agency,
        alerts=len(alerts),
        caught=caught,
        missed=len(truth) - caught,
        checks=tuple(checks),
        sharing_latency=Stat.of(round(x, 3) for x in latencies),
        share_volume_by_agreement=dict(by_agreement),
        share_volume_by_pair=dict(by_pair),
        sensor_false_alarms=sensors,
        unmatched_alerts=sum(1 for a in alerts if a.kind in _SCORABLE_ALERTS and a.id not in matched_alerts),
        truth=tuple(truth),
        share_latencies=share_latencies,
        alert_facts=tuple(alerts),
    )


def _live_checks(alerts: Sequence[AlertFacts], targets: KpiTargets) -> list[Check]:
    return [
        Check(
            inject=a.id,
            measure="acknowledge",
            target_s=targets.acknowledge_s,
            actual_s=_secs(a.raised_at, a.acknowledged_at),
            alert_id=a.id,
        )
        for a in alerts
    ]


def _checks(
    plan: Mapping[str, Any],
    injects: Mapping[str, DrillInjected],
    truth_raw: Sequence[Mapping[str, Any]],
    alerts: Sequence[AlertFacts],
    events: Sequence[JournalEvent],
) -> list[Check]:
    """Score each expectation: detection from the ground-truth event, the rest from the alert."""
    msg_sent: dict[str, tuple[str, datetime]] = {}
    msg_ack: dict[str, datetime] = {}
    for ev in events:
        if ev.type == "DrillMessageSent":
            msg_sent[str(ev.payload["inject_id"])] = (str(ev.payload["message_id"]), _t(ev.payload["at"]))
        elif ev.type == "DrillMessageAcknowledged":
            msg_ack.setdefault(str(ev.payload["message_id"]), _t(ev.payload["at"]))
    out: list[Check] = []
    for exp in plan.get("expectations", ()):
        inject_id = str(exp["inject"])
        inj = injects.get(inject_id)
        if inject_id in msg_sent:
            message_id, sent_at = msg_sent[inject_id]
            if exp.get("acknowledge_within_s") is not None:
                out.append(
                    Check(
                        inject=inject_id,
                        measure="acknowledge",
                        target_s=float(exp["acknowledge_within_s"]),
                        actual_s=_secs(sent_at, msg_ack.get(message_id)),
                    )
                )
            continue
        truth_id = None if inj is None else inj.details.get("truth_id")
        ref = next(
            (
                r
                for r in truth_raw
                if truth_id is not None
                and truth_id in r.get("truth_ids", ())
                and str(r["kind"]) in ALERT_FOR_TRUTH
            ),
            None,
        )
        hit: AlertFacts | None = None
        ref_at: datetime | None = None
        if ref is not None:
            ref_at = _t(ref["at"])
            identity = f"mmsi:{inj.details['mmsi']}" if inj is not None and inj.details.get("mmsi") else None
            kind = str(ref["kind"])
            candidates = [a for a in alerts if exp.get("alert") is None or a.kind == exp["alert"]]
            hit = _match(kind, ref_at, ref.get("lat"), ref.get("lon"), identity, candidates)
        alert_id = hit.id if hit else None
        if exp.get("detect_within_s") is not None:
            out.append(
                Check(
                    inject=inject_id,
                    measure="detect",
                    target_s=float(exp["detect_within_s"]),
                    actual_s=_secs(ref_at, hit.raised_at) if hit else None,
                    alert_id=alert_id,
                )
            )
        if exp.get("acknowledge_within_s") is not None:
            out.append(
                Check(
                    inject=inject_id,
                    measure="acknowledge",
                    target_s=float(exp["acknowledge_within_s"]),
                    actual_s=_secs(hit.raised_at, hit.acknowledged_at) if hit else None,
                    alert_id=alert_id,
                )
            )
        if exp.get("incident_within_s") is not None:
            out.append(
                Check(
                    inject=inject_id,
                    measure="incident",
                    target_s=float(exp["incident_within_s"]),
                    actual_s=_secs(hit.raised_at, hit.incident_at) if hit else None,
                    alert_id=alert_id,
                )
            )
    return out
