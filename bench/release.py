"""Benchmark of the release gate: decisions per second with the decision cache, and without it.

A realistic mix: 10,000 records (tracks, persons, vessels, intelligence reports) from six agencies
(BP, CUS, IMM, CG, ARMY, INT), 50 viewers with mixed clearances, roles and need-to-know, and 10
agreements. Every record is asked for by every viewer. The uncached gate (every decision evaluated by
Cedar) is the baseline, measured on a sample in the same run. Rates are per second of process CPU
time, i.e. on one core even when the machine is shared; the cached wall-clock rate is printed beside.
Prints one JSON object.

    .venv/bin/python bench/release.py [--records 10000] [--viewers 50] [--uncached-sample 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from concord.domain.agreement import Agreement, AgreementSet
from concord.domain.identity import Agency, AgencyKind, Role, Viewer
from concord.domain.marking import DEFAULT_LADDER, Marking, Tlp
from concord.sharing import Released, ReleaseGate, ReleasePolicies, Shareable, Withheld

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGENCIES = (
    Agency(code="BP", name="Border Police", kind=AgencyKind.BORDER_POLICE),
    Agency(code="CUS", name="Customs", kind=AgencyKind.CUSTOMS),
    Agency(code="IMM", name="Immigration", kind=AgencyKind.IMMIGRATION),
    Agency(code="CG", name="Coast Guard", kind=AgencyKind.COAST_GUARD),
    Agency(code="ARMY", name="Army", kind=AgencyKind.MILITARY),
    Agency(code="INT", name="Intelligence", kind=AgencyKind.INTELLIGENCE),
)
CODES = [a.code for a in AGENCIES]

# (kind, fields, categories carried by the marking, usual TLP colours, usual levels)
TEMPLATES = [
    ("track", ("position", "speed_mps", "course_deg"), frozenset(), (Tlp.GREEN, Tlp.AMBER), (0, 1)),
    ("vessel", ("position", "mmsi", "vessel_owner"), frozenset({"PII"}), (Tlp.GREEN, Tlp.AMBER), (0, 1)),
    (
        "person",
        ("person_name", "document_number", "nationality", "biometrics", "position"),
        frozenset({"PII", "BIOMETRIC"}),
        (Tlp.AMBER, Tlp.AMBER_STRICT),
        (1, 2),
    ),
    (
        "intel-report",
        ("summary", "intel_source", "person_name"),
        frozenset({"INTEL-SOURCE", "PII", "LAW-ENFORCEMENT-SENSITIVE"}),
        (Tlp.AMBER, Tlp.RED),
        (2, 3),
    ),
]
WEIGHTS = [55, 20, 17, 8]

# Agencies release to a few standing distribution groups, not to arbitrary sets.
REL_TO_GROUPS = {
    "BP": [{"CUS", "IMM", "CG"}, {"CUS"}, {"CUS", "IMM", "CG", "ARMY", "INT"}],
    "CUS": [{"BP"}, {"BP", "CG"}, set()],
    "IMM": [{"BP"}, {"BP", "INT"}, set()],
    "CG": [{"BP", "CUS"}, {"BP", "CUS", "ARMY"}, {"BP"}],
    "ARMY": [{"BP", "CG"}, set(), {"BP"}],
    "INT": [{"BP", "IMM"}, set(), {"BP"}],
}
ROLE_CATEGORIES = {
    Role.OPERATOR: {"PII"},
    Role.ANALYST: {"PII", "LAW-ENFORCEMENT-SENSITIVE"},
    Role.COMMANDER: {"PII", "BIOMETRIC", "LAW-ENFORCEMENT-SENSITIVE"},
    Role.LIAISON: {"PII"},
    Role.AUDITOR: {"PII", "BIOMETRIC", "LAW-ENFORCEMENT-SENSITIVE"},
}
AGENCY_CATEGORIES = {"IMM": {"BIOMETRIC"}, "INT": {"INTEL-SOURCE", "LAW-ENFORCEMENT-SENSITIVE"}}


def build_records(count: int, rng: random.Random) -> list[Shareable]:
    records = []
    for index in range(count):
        kind, fields, categories, tlps, levels = rng.choices(TEMPLATES, WEIGHTS)[0]
        originator = rng.choice(CODES)
        tlp = rng.choice(tlps)
        marking = Marking(
            classification=DEFAULT_LADDER.levels[rng.choice(levels)],
            originator=originator,
            rel_to=frozenset(rng.choice(REL_TO_GROUPS[originator])),
            tlp=tlp,
            categories=categories,
            # TLP:RED goes to the liaison officers of the agency (user ids 1 and 7 of each agency).
            recipients=frozenset({"user-1", "user-7"}) if tlp is Tlp.RED else frozenset(),
        )
        records.append(
            Shareable(
                kind=kind,
                record_id=f"{kind}-{index}",
                marking=marking,
                fields={name: f"{name}-{index}" for name in fields},
                exercise=rng.random() < 0.02,
            )
        )
    return records


def build_viewers(count: int, rng: random.Random) -> list[Viewer]:
    viewers = []
    for index in range(count):
        role = (
            Role.AUDITOR
            if index % 10 == 0
            else rng.choice([Role.OPERATOR, Role.ANALYST, Role.COMMANDER, Role.LIAISON])
        )
        agency = CODES[index % len(CODES)]
        viewers.append(
            Viewer(
                user_id=f"user-{index}",
                agency=agency,
                roles=frozenset({role}),
                clearance=DEFAULT_LADDER.levels[rng.choice([1, 2, 2, 3])],
                categories=frozenset(ROLE_CATEGORIES[role] | AGENCY_CATEGORIES.get(agency, set())),
            )
        )
    return viewers


def build_agreements() -> AgreementSet:
    pairs = [
        ("BP", "CUS", {"PII"}, {"person_name", "document_number", "vessel_owner"}),
        ("BP", "IMM", {"PII", "BIOMETRIC"}, {"person_name", "document_number", "nationality", "biometrics"}),
        ("CUS", "BP", {"PII"}, {"vessel_owner"}),
        ("IMM", "BP", {"PII"}, {"person_name", "nationality"}),
        ("CG", "BP", {"PII"}, {"vessel_owner"}),
        ("CG", "CUS", {"PII"}, {"vessel_owner"}),
        ("ARMY", "BP", set(), set()),
        ("INT", "BP", {"LAW-ENFORCEMENT-SENSITIVE", "PII"}, {"person_name"}),
        ("INT", "IMM", {"LAW-ENFORCEMENT-SENSITIVE", "PII"}, {"person_name"}),
        ("BP", "CG", {"PII"}, {"person_name"}),
    ]
    items = [
        Agreement(
            agreement_id=f"mou-{owner}-{partner}".lower(),
            owner=owner,
            partner=partner,
            valid_from=AT - timedelta(days=365),
            valid_until=AT + timedelta(days=365) if index % 3 else None,
            categories=frozenset(categories),
            fields=frozenset(fields),
            revoked=index == 9,
        )
        for index, (owner, partner, categories, fields) in enumerate(pairs)
    ]
    return AgreementSet.of(items)


def run(
    records: list[Shareable], viewers: list[Viewer], gate: ReleaseGate
) -> tuple[float, float, Counter[str]]:
    """Ask for every record as every viewer; return (CPU seconds, wall seconds, outcome counts)."""
    outcomes: Counter[str] = Counter()
    release = gate.release
    start, start_wall = time.process_time(), time.perf_counter()
    for viewer in viewers:
        for record in records:
            result = release(record, viewer, AT)
            if isinstance(result, Withheld):
                outcomes["withheld"] += 1
            elif isinstance(result, Released):
                outcomes[result.explanation.decision] += 1
    return time.process_time() - start, time.perf_counter() - start_wall, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--uncached-sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    records = build_records(args.records, rng)
    viewers = build_viewers(args.viewers, rng)
    agreements = build_agreements()
    policies = ReleasePolicies.load()

    gate = ReleaseGate(policies=policies, agencies=AGENCIES, agreements=agreements)
    cold_s, _, outcomes = run(records, viewers, gate)
    misses = gate.cache_info()["misses"]
    warm_s, warm_wall_s, warm_outcomes = run(records, viewers, gate)
    assert warm_outcomes == outcomes
    decisions = len(records) * len(viewers)

    uncached = ReleaseGate(policies=policies, agencies=AGENCIES, agreements=agreements, cache_size=0)
    sample = [(rng.choice(records), rng.choice(viewers)) for _ in range(args.uncached_sample)]
    start = time.process_time()
    for record, viewer in sample:
        uncached.release(record, viewer, AT)
    uncached_s = time.process_time() - start

    cached_rate = decisions / warm_s
    uncached_rate = len(sample) / uncached_s
    print(
        json.dumps(
            {
                "benchmark": "release-gate",
                "python": platform.python_version(),
                "records": len(records),
                "viewers": len(viewers),
                "agencies": len(AGENCIES),
                "agreements": len(agreements.agreements),
                "decisions": decisions,
                "outcomes": dict(sorted(outcomes.items())),
                "distinct_decisions_cached": misses,
                "clock": "process CPU time (one core; the machine may be shared)",
                "cached_decisions_per_s": round(cached_rate),
                "cached_decisions_per_wall_s": round(decisions / warm_wall_s),
                "first_pass_decisions_per_s": round(decisions / cold_s),
                "uncached_decisions_per_s": round(uncached_rate),
                "uncached_sample": len(sample),
                "speedup_cached_vs_uncached": round(cached_rate / uncached_rate, 1),
                "target_cached_decisions_per_s": 200_000,
                "meets_target": cached_rate >= 200_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
