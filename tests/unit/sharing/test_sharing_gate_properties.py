"""Property tests: the gate agrees with a reference written here, and explain() with release().

The reference re-states the release rules of docs/security.md in plain Python, independently of the
Cedar policy files, and is run on generated records, viewers and agreements.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reference_rules import Expected
from tests.reference_rules import reference as shared_reference
from tests.unit.sharing.sharing_support import AGENCIES, AT

from concord.domain.agreement import Agreement, AgreementSet
from concord.domain.identity import Role, Viewer
from concord.domain.marking import DEFAULT_LADDER, Marking, Tlp
from concord.sharing import (
    DEFAULT_FIELD_CATEGORIES,
    Full,
    Redacted,
    Released,
    ReleaseGate,
    ReleasePolicies,
    Shareable,
    Withheld,
)

CODES = ("BP", "CUS", "IMM", "INT")
KINDS = {a.code: a.kind.value for a in AGENCIES}
CATEGORIES = ("PII", "BIOMETRIC", "INTEL-SOURCE", "LAW-ENFORCEMENT-SENSITIVE")
SENSITIVE = ("person_name", "document_number", "biometrics", "intel_source")
PLAIN = ("position", "speed_mps")
USERS = ("u1", "u2", "u3")
POLICIES = ReleasePolicies.load()
# Skewed so that a fair share of the generated cases is released rather than withheld.
RARELY = st.sampled_from([False, False, False, True])


@st.composite
def records(draw: st.DrawFn) -> Shareable:
    names = draw(st.frozensets(st.sampled_from(SENSITIVE + PLAIN), max_size=5))
    carried = {DEFAULT_FIELD_CATEGORIES[n] for n in names if n in DEFAULT_FIELD_CATEGORIES}
    tlp = draw(st.sampled_from(list(Tlp)))
    marking = Marking(
        classification=draw(st.sampled_from(DEFAULT_LADDER.levels)),
        originator=draw(st.sampled_from(CODES)),
        rel_to=draw(st.frozensets(st.sampled_from(CODES), min_size=2)),
        tlp=tlp,
        categories=frozenset(carried) | draw(st.frozensets(st.sampled_from(CATEGORIES), max_size=2)),
        recipients=draw(st.frozensets(st.sampled_from(USERS))) if tlp is Tlp.RED else frozenset(),
    )
    return Shareable(
        kind="person",
        record_id="r",
        marking=marking,
        fields={n: f"v-{n}" for n in names},
        exercise=draw(RARELY),
    )


viewers = st.builds(
    Viewer,
    user_id=st.sampled_from(USERS),
    agency=st.sampled_from(CODES),
    roles=st.frozensets(st.sampled_from([Role.ANALYST, Role.AUDITOR, Role.OPERATOR]), min_size=1, max_size=2),
    clearance=st.sampled_from((*DEFAULT_LADDER.levels, "SECRET", "SECRET", "UNKNOWN-LEVEL")),
    categories=st.frozensets(st.sampled_from(CATEGORIES)),
)


@st.composite
def agreement_sets(draw: st.DrawFn, pair: tuple[str, str] | None = None) -> AgreementSet:
    """Random agreements; with ``pair`` (owner, partner), most of them link that pair."""
    items = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        owner = draw(st.sampled_from(CODES))
        partner = draw(st.sampled_from([c for c in CODES if c != owner]))
        if pair is not None and pair[0] != pair[1] and draw(st.booleans()):
            owner, partner = pair
        start = AT + timedelta(days=draw(st.integers(min_value=-10, max_value=3)))
        length = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=20)))
        items.append(
            Agreement(
                agreement_id=f"a{index}",
                owner=owner,
                partner=partner,
                valid_from=start,
                valid_until=None if length is None else start + timedelta(days=length),
                categories=draw(st.frozensets(st.sampled_from(CATEGORIES))),
                fields=draw(st.frozensets(st.sampled_from(SENSITIVE))),
                revoked=draw(RARELY),
            )
        )
    return AgreementSet.of(items)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Shareable, Viewer, AgreementSet, bool]:
    record, viewer = draw(records()), draw(viewers)
    agreements = draw(agreement_sets(pair=(record.marking.originator, viewer.agency)))
    return record, viewer, agreements, draw(RARELY)


def reference(record: Shareable, viewer: Viewer, agreements: AgreementSet, session: bool) -> Expected:
    """The rules of docs/security.md, restated apart from the Cedar files (tests/reference_rules.py)."""
    return shared_reference(record, viewer, agreements, session, at=AT, agency_kinds=KINDS)


def observed(gate: ReleaseGate, record: Shareable, viewer: Viewer, session: bool) -> Expected:
    result = gate.release(record, viewer, AT, exercise_session=session)
    if isinstance(result, Withheld):
        return Expected("withheld", frozenset(result.deny_reasons), {})
    redacted = {r.field: frozenset[str](r.reasons) for r in result.explanation.redacted}
    kind = "full" if isinstance(result.value, Full) else "redacted"
    assert set(result.record.fields) == set(record.fields) - set(redacted)
    return Expected(kind, frozenset(result.explanation.deny_reasons), redacted)


@given(cases())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_gate_agrees_with_the_reference(case: tuple[Shareable, Viewer, AgreementSet, bool]) -> None:
    record, viewer, agreements, session = case
    gate = ReleaseGate(policies=POLICIES, agencies=AGENCIES, agreements=agreements)
    expected = reference(record, viewer, agreements, session)
    assert observed(gate, record, viewer, session) == expected
    # A second, cached answer is the same.
    assert observed(gate, record, viewer, session) == expected


@given(cases())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_explanation_always_equals_the_decision(case: tuple[Shareable, Viewer, AgreementSet, bool]) -> None:
    record, viewer, agreements, session = case
    # Two gates, so the explanation is computed afresh rather than read from release()'s cache.
    releasing = ReleaseGate(policies=POLICIES, agencies=AGENCIES, agreements=agreements)
    explaining = ReleaseGate(policies=POLICIES, agencies=AGENCIES, agreements=agreements, cache_size=0)
    result = releasing.release(record, viewer, AT, exercise_session=session)
    explanation = explaining.explain(record, viewer, AT, exercise_session=session)
    assert explanation == result.explanation
    if isinstance(result, Withheld):
        assert explanation.decision == "withheld" and explanation.deny_reasons
        assert explanation.policy_ids
    elif isinstance(result.value, Redacted):
        assert explanation.decision == "redacted"
        assert explanation.redacted_fields == result.value.removed
        assert not set(explanation.redacted_fields) & set(result.record.fields)
    else:
        assert isinstance(result, Released)
        assert explanation.decision == "full" and explanation.redacted == ()
        assert result.record is record
    # Every reason the gate gives was written by a policy it names.
    for policy_id in explanation.policy_ids + tuple(p for r in explanation.redacted for p in r.policy_ids):
        assert policy_id in POLICIES.effects or policy_id == "marking-validation"
