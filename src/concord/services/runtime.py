"""What runs beside the API in a server process: the periodic jobs, and the simulated feeds of the demo.

- every few seconds the time-driven rules run (a vessel gone dark is the absence of reports), the
  coordination service records due SLA escalations, and the audit log signs a new tree head;
- in the demo, the border scenario's sensors report in real time through the same ingest paths as
  real feeds: AIS as NMEA sentences and TAK as CoT events through their decoders, radar, camera and
  ground-sensor plots as observations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from concord.domain.observation import Observation
from concord.drills.sim import MarkingSpec, Scenario, ScenarioConfig
from concord.ingest import AisDecoder, CotDecoder
from concord.services.picture import Intake

__all__ = ["PeriodicJob", "ScenarioFeed", "run_periodic", "scenario_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    interval_s: float
    run: Callable[[], object]


async def run_periodic(jobs: Sequence[PeriodicJob], *, stop: asyncio.Event) -> None:
    """Run each job every ``interval_s`` in a worker thread until ``stop`` is set; failures are logged."""

    async def loop(job: PeriodicJob) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(job.run)
            except Exception:
                log.exception("periodic job %s failed", job.name)
            try:
                await asyncio.wait_for(stop.wait(), timeout=job.interval_s)
            except TimeoutError:
                pass

    await asyncio.gather(*(loop(job) for job in jobs))


def scenario_for(
    start: datetime, agencies: Sequence[str], *, seed: int = 1, exercise: bool = False
) -> Scenario:
    """The demo border scenario, starting now, its sensors' reports releasable to every agency
    (what partners actually receive is then decided by the agreements)."""
    spec = MarkingSpec(rel_to=frozenset(agencies))
    config = ScenarioConfig(
        seed=seed,
        start=start,
        output="raw",
        exercise=exercise,
        markings=dict.fromkeys(("BP", "CG", "CUS", "IMM", "ARMY", "INT"), spec),
    )
    return Scenario.from_config(config)


class ScenarioFeed:
    """Steps a scenario and feeds its sensor reports into the picture, through the real decoders."""

    def __init__(self, scenario: Scenario, picture: Intake, *, agencies: Sequence[str]) -> None:
        self.scenario = scenario
        self.picture = picture
        marking = {code: MarkingSpec(rel_to=frozenset(agencies)).to_marking(code) for code in ("CG", "BP")}
        self._ais = AisDecoder(
            "CG", marking["CG"], feed="ais:CG-coastal", exercise=scenario_exercise(scenario)
        )
        self._cot = {
            code: CotDecoder(code, marking[code], feed=f"cot:{code}", exercise=scenario_exercise(scenario))
            for code in ("BP", "CG")
        }
        self.steps = 0
        self.observations = 0

    def step_to(self, moment: datetime) -> int:
        """Advance the scenario to ``moment`` (the clock's now) in steps of at most 5 s."""
        total = 0
        while (gap := (moment - self.scenario.now).total_seconds()) > 0.05:
            total += self.step(min(gap, 5.0))
        return total

    def step(self, dt_s: float) -> int:
        sim = self.scenario.step(dt_s)
        batch: list[Observation] = list(sim.observations)
        now = sim.time
        if sim.raw_ais:
            batch.extend(self._ais.decode("\n".join(sim.raw_ais).encode(), received_at=now).observations)
        for payload in sim.raw_cot:
            agency = "CG" if b'callsign="CG-' in payload else "BP"
            batch.extend(self._cot[agency].decode(payload, received_at=now).observations)
        if batch:
            self.picture.ingest(_unique(batch), actor="simulator")
        self.steps += 1
        self.observations += len(batch)
        return len(batch)


def scenario_exercise(scenario: Scenario) -> bool:
    return bool(scenario.config.exercise)


def _unique(batch: list[Observation]) -> list[Observation]:
    seen: set[str] = set()
    out = []
    for o in batch:
        if o.id not in seen:
            seen.add(o.id)
            out.append(o)
    return out
