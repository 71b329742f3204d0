"""Benchmark of the coordination journal: replay after a restart, and the escalation sweep.

Each figure is measured next to a baseline in the same run:

* replay: decoding every stored event (checked ``from_dict``) and folding the incidents, against
  ``json.loads`` of the same payloads alone (the floor any replay pays);
* sweep: ``due_escalations`` over the folded incidents (what the scheduler runs every few seconds),
  against the same call given the raw events, which folds the journal again on every sweep.

Run: ``.venv/bin/python bench/incidents.py`` (``--incidents 500`` for a quick run). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

from concord.adapters.clock import ManualClock
from concord.domain.identity import Role, User
from concord.domain.incident import EscalationStep, fold_incidents
from concord.domain.incident_codec import CoordinationEvent, event_from_dict
from concord.incidents import IncidentService, due_escalations
from concord.incidents.commands import AcknowledgeTask, AddTask, OpenIncident

START = datetime(2026, 3, 1, tzinfo=UTC)
OPS = User(id="u-ops", username="ops", agency="CG", roles=frozenset({Role.OPERATOR}), clearance="RESTRICTED")


def build(incidents: int, seed: int) -> list[CoordinationEvent]:
    rng = random.Random(seed)
    clock = ManualClock(START)
    counter = iter(range(10**9))
    svc = IncidentService(clock=clock, new_id=lambda: f"i{next(counter)}")
    events: list[CoordinationEvent] = []
    steps = (
        EscalationStep(agency="CG", role="commander", delay_s=0),
        EscalationStep(agency="JOC", role="commander", delay_s=600),
    )
    for _ in range(incidents):
        clock.advance(rng.randint(1, 30))
        opened = svc.open(OpenIncident(title="bench", lead_agency="CG"), OPS)
        events.extend(opened)
        incident = fold_incidents(opened)[opened[0].incident_id]  # type: ignore[attr-defined]
        for n in range(3):
            task = svc.handle(
                incident,
                AddTask(
                    incident_id=incident.id,
                    task_id=f"t{n}",
                    title="task",
                    agency="CG",
                    role="operator",
                    ack_sla_s=rng.randint(60, 900),
                    complete_sla_s=3600,
                    escalation=steps,
                ),
                OPS,
            )
            events.extend(task)
            for e in task:
                incident.apply(e)  # type: ignore[arg-type]
            if rng.random() < 0.5:
                ack = svc.handle(incident, AcknowledgeTask(incident_id=incident.id, task_id=f"t{n}"), OPS)
                events.extend(ack)
                for e in ack:
                    incident.apply(e)  # type: ignore[arg-type]
        clock.advance(rng.randint(0, 60))
    return events


def timed(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    events = build(args.incidents, args.seed)
    stored = [json.dumps(e.to_dict()) for e in events]
    now = START + timedelta(seconds=args.incidents * 30)

    def replay() -> None:
        fold_incidents(event_from_dict(json.loads(s)) for s in stored)

    def json_only() -> None:
        for s in stored:
            json.loads(s)

    folded = list(fold_incidents(events).values())
    due = due_escalations(folded, now)

    replay_s = timed(replay, args.repeat)
    json_s = timed(json_only, args.repeat)
    sweep_s = timed(lambda: due_escalations(folded, now), args.repeat)
    refold_s = timed(lambda: due_escalations(events, now), args.repeat)
    print(
        json.dumps(
            {
                "incidents": args.incidents,
                "events": len(events),
                "due_escalations": len(due),
                "replay_s": round(replay_s, 4),
                "replay_events_per_s": round(len(events) / replay_s),
                "baseline_json_only_s": round(json_s, 4),
                "sweep_folded_s": round(sweep_s, 4),
                "baseline_sweep_refolding_s": round(refold_s, 4),
                "sweep_speedup": round(refold_s / sweep_s, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
