"""The release gate, rule by rule: who sees what, what is redacted, and why."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from tests.unit.sharing.sharing_support import AT, make_agreement, make_gate, make_viewer

from concord.domain.agreement import AgreementRevoked, AgreementSet
from concord.domain.errors import Conflict, InvalidInput
from concord.domain.identity import Agency, AgencyKind, Role
from concord.domain.marking import Marking, Tlp
from concord.sharing import (
    Explanation,
    Full,
    Gate,
    Redacted,
    Released,
    ReleaseDecision,
    ReleasePolicies,
    Shareable,
    Withheld,
)

PERSON_FIELDS = {
    "person_name": "Ana Example",
    "document_number": "X1234567",
    "biometrics": "fingerprint-template",
    "intel_source": "source 17",
    "position": "54.1N 22.9E",
}


def person(
    *,
    originator: str = "BP",
    rel_to: frozenset[str] = frozenset({"CUS", "IMM", "CG", "ARMY", "INT"}),
    classification: str = "RESTRICTED",
    tlp: Tlp = Tlp.AMBER,
    categories: frozenset[str] = frozenset({"PII", "BIOMETRIC", "INTEL-SOURCE"}),
    fields: dict[str, str] | None = None,
    exercise: bool = False,
    recipients: frozenset[str] = frozenset(),
    record_id: str = "p-1",
) -> Shareable:
    return Shareable(
        kind="person",
        record_id=record_id,
        marking=Marking(
            classification=classification,
            originator=originator,
            rel_to=rel_to,
            tlp=tlp,
            categories=categories,
            recipients=recipients,
        ),
        fields=dict(PERSON_FIELDS if fields is None else fields),
        exercise=exercise,
    )


def sighting(*, tlp: Tlp = Tlp.GREEN, rel_to: frozenset[str] = frozenset({"CUS"})) -> Shareable:
    return Shareable(
        kind="track",
        record_id="t-1",
        marking=Marking(classification="UNCLASSIFIED", originator="BP", rel_to=rel_to, tlp=tlp),
        fields={"position": "54.1N 22.9E", "speed_mps": 3.2},
    )


def withheld_reasons(result: object) -> tuple[str, ...]:
    assert isinstance(result, Withheld), result
    return result.deny_reasons


def test_originator_sees_everything_of_its_own(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    result = gate.release(person(), make_viewer("BP"), AT)
    assert isinstance(result, Released) and isinstance(result.value, Full)
    assert dict(result.record.fields) == PERSON_FIELDS
    assert result.explanation.policy_ids == ("permit-own-agency",)


def test_partner_gets_only_fields_the_agreement_covers(policies: ReleasePolicies) -> None:
    gate = make_gate(policies, make_agreement("BP", "CUS", categories={"PII"}, fields={"person_name"}))
    result = gate.release(person(), make_viewer("CUS"), AT)
    assert isinstance(result, Released) and isinstance(result.value, Redacted)
    assert dict(result.record.fields) == {"person_name": "Ana Example", "position": "54.1N 22.9E"}
    assert result.redacted_fields == ("biometrics", "document_number", "intel_source")
    why = {r.field: set(r.reasons) for r in result.explanation.redacted}
    assert why["document_number"] == {"field-not-releasable"}
    assert why["biometrics"] == {"category-forbidden", "category-not-covered", "field-not-releasable"}
    assert "category-forbidden" in why["intel_source"]
    assert result.explanation.agreement_ids == ("BP-CUS",)
    assert result.explanation.categories == ("PII",)
    # The original record is untouched.
    assert "biometrics" not in result.record.fields
    assert result.record.marking == person().marking


def test_biometrics_go_to_immigration_only(policies: ReleasePolicies) -> None:
    cats, names = {"PII", "BIOMETRIC"}, {"person_name", "biometrics"}
    gate = make_gate(
        policies,
        make_agreement("BP", "IMM", categories=cats, fields=names),
        make_agreement("BP", "CUS", categories=cats, fields=names),
    )
    to_imm = gate.release(person(), make_viewer("IMM"), AT)
    to_cus = gate.release(person(), make_viewer("CUS"), AT)
    assert isinstance(to_imm, Released) and "biometrics" in to_imm.record.fields
    assert isinstance(to_cus, Released) and "biometrics" not in to_cus.record.fields
    assert {r.field: r.policy_ids for r in to_cus.explanation.redacted}["biometrics"] == (
        "forbid-field-biometric",
    )


def test_agency_directory_changes_drop_cached_decisions(policies: ReleasePolicies) -> None:
    cats, names = {"PII", "BIOMETRIC"}, {"person_name", "biometrics"}
    gate = make_gate(policies, make_agreement("BP", "CUS", categories=cats, fields=names))
    record = person(categories=frozenset({"PII", "BIOMETRIC"}), fields={"biometrics": "fp"})
    assert gate.explain(record, make_viewer("CUS"), AT).redacted_fields == ("biometrics",)
    gate.update_agencies(
        [
            Agency(code="BP", name="BP", kind=AgencyKind.BORDER_POLICE),
            Agency(code="CUS", name="Customs and Immigration", kind=AgencyKind.IMMIGRATION),
        ]
    )
    assert gate.explain(record, make_viewer("CUS"), AT).redacted_fields == ()


def test_intelligence_sources_never_leave_the_originator(policies: ReleasePolicies) -> None:
    everything = make_agreement(
        "BP",
        "IMM",
        categories={"PII", "BIOMETRIC", "INTEL-SOURCE"},
        fields={"person_name", "biometrics", "intel_source", "document_number"},
    )
    gate = make_gate(policies, everything)
    result = gate.release(person(), make_viewer("IMM"), AT)
    assert isinstance(result, Released)
    assert result.redacted_fields == ("intel_source",)
    assert result.explanation.redacted[0].policy_ids == ("forbid-field-intel-source",)
    # A record whose whole content is intelligence-derived is withheld, not redacted.
    whole = person(categories=frozenset({"INTEL-SOURCE"}), fields={"position": "x"})
    assert withheld_reasons(gate.release(whole, make_viewer("IMM"), AT)) == ("category-forbidden",)


def test_need_to_know_redacts_the_field(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    viewer = make_viewer("BP", categories={"PII"})
    result = gate.release(person(), viewer, AT)
    assert isinstance(result, Released)
    assert result.redacted_fields == ("biometrics", "intel_source")
    assert {r for f in result.explanation.redacted for r in f.reasons} == {"need-to-know"}


@pytest.mark.parametrize(
    ("record", "viewer", "reason"),
    [
        (person(classification="SECRET"), make_viewer("BP", clearance="CONFIDENTIAL"), "above-clearance"),
        (person(), make_viewer("CUS", clearance="no-such-level"), "above-clearance"),
        (person(rel_to=frozenset({"IMM"})), make_viewer("CUS"), "not-releasable"),
        (person(tlp=Tlp.AMBER_STRICT), make_viewer("CUS"), "tlp"),
        (person(tlp=Tlp.RED), make_viewer("CUS"), "tlp"),
        (person(exercise=True), make_viewer("BP"), "exercise-separation"),
        (person(classification="COSMIC"), make_viewer("BP"), "invalid-marking"),
    ],
)
def test_each_record_rule_withholds(
    record: Shareable, viewer: object, reason: str, policies: ReleasePolicies
) -> None:
    gate = make_gate(policies, make_agreement("BP", "CUS", categories={"PII", "BIOMETRIC", "INTEL-SOURCE"}))
    assert reason in withheld_reasons(gate.release(record, viewer, AT))  # type: ignore[arg-type]


def test_exercise_records_only_in_exercise_sessions(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    drill = person(exercise=True)
    assert isinstance(gate.release(drill, make_viewer("BP"), AT, exercise_session=True), Released)
    assert withheld_reasons(gate.release(person(), make_viewer("BP"), AT, exercise_session=True)) == (
        "exercise-separation",
    )


def test_red_named_recipient(policies: ReleasePolicies) -> None:
    gate = make_gate(policies, make_agreement("BP", "CUS"))
    record = person(
        tlp=Tlp.RED,
        recipients=frozenset({"cus-alice"}),
        categories=frozenset({"PII"}),
        fields={"person_name": "A"},
    )
    assert isinstance(gate.release(record, make_viewer("CUS", user_id="cus-alice"), AT), Released)
    assert withheld_reasons(gate.release(record, make_viewer("CUS", user_id="cus-bob"), AT)) == ("tlp",)


def test_agreement_states(policies: ReleasePolicies) -> None:
    viewer = make_viewer("CUS")
    cases = {
        "no-agreement": make_gate(policies),
        "agreement-expired": make_gate(policies, make_agreement(start=AT - timedelta(days=9), until=AT)),
        "agreement-not-yet-valid": make_gate(policies, make_agreement(start=AT + timedelta(seconds=1))),
        "agreement-revoked": make_gate(policies, make_agreement(revoked=True)),
    }
    for reason, gate in cases.items():
        assert withheld_reasons(gate.release(person(), viewer, AT)) == (reason,)


def test_community_records_need_no_agreement(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    result = gate.release(sighting(), make_viewer("CUS"), AT)
    assert isinstance(result, Released) and isinstance(result.value, Full)
    assert result.explanation.policy_ids == ("permit-community",)
    assert withheld_reasons(gate.release(sighting(tlp=Tlp.AMBER), make_viewer("CUS"), AT)) == (
        "no-agreement",
    )
    assert withheld_reasons(gate.release(sighting(), make_viewer("IMM"), AT)) == ("not-releasable",)


def test_record_bound_category_must_be_covered(policies: ReleasePolicies) -> None:
    record = person(categories=frozenset({"LAW-ENFORCEMENT-SENSITIVE"}), fields={"position": "x"})
    gate = make_gate(policies, make_agreement("BP", "CUS", categories={"PII"}))
    assert withheld_reasons(gate.release(record, make_viewer("CUS"), AT)) == ("category-not-covered",)
    gate = make_gate(policies, make_agreement("BP", "CUS", categories={"LAW-ENFORCEMENT-SENSITIVE"}))
    assert isinstance(gate.release(record, make_viewer("CUS"), AT), Released)
    lacking = make_viewer("CUS", categories={"PII"})
    assert withheld_reasons(gate.release(record, lacking, AT)) == ("need-to-know",)


def test_auditor_sees_metadata_only_above_clearance(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    auditor = make_viewer("BP", clearance="UNCLASSIFIED", roles={Role.AUDITOR})
    result = gate.release(person(classification="SECRET"), auditor, AT)
    assert isinstance(result, Released) and isinstance(result.value, Redacted)
    assert dict(result.record.fields) == {}
    assert result.record.marking.banner().startswith("SECRET//")
    assert all("above-clearance" in r.reasons for r in result.explanation.redacted)
    # Within clearance an auditor is an ordinary viewer of their agency.
    cleared = make_viewer("BP", clearance="SECRET", roles={Role.AUDITOR})
    assert isinstance(gate.release(person(), cleared, AT).value, Full)  # type: ignore[union-attr]
    # Another agency's auditor gets no special access.
    foreign = make_viewer("CUS", clearance="UNCLASSIFIED", roles={Role.AUDITOR})
    assert "above-clearance" in withheld_reasons(gate.release(person(classification="SECRET"), foreign, AT))


def test_revocation_takes_effect_at_once(policies: ReleasePolicies) -> None:
    gate = make_gate(policies, make_agreement("BP", "CUS"))
    viewer = make_viewer("CUS")
    record = person(categories=frozenset({"PII"}), fields={"person_name": "A"})
    assert isinstance(gate.release(record, viewer, AT), Released)
    assert isinstance(gate.release(record, viewer, AT), Released)  # now cached
    assert gate.cache_info()["hits"] >= 1
    version = gate.agreements.version
    gate.apply(AgreementRevoked(agreement_id="BP-CUS", occurred_at=AT))
    assert gate.agreements.version == version + 1
    assert withheld_reasons(gate.release(record, viewer, AT)) == ("agreement-revoked",)
    assert gate.explain(record, viewer, AT).deny_reasons == ("agreement-revoked",)


def test_update_agreements_refuses_an_older_set(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    gate.update_agreements(AgreementSet.of([make_agreement()], version=5))
    with pytest.raises(Conflict):
        gate.update_agreements(AgreementSet.of([], version=4))


def test_time_moves_agreements_in_and_out_of_force_despite_the_cache(policies: ReleasePolicies) -> None:
    gate = make_gate(policies, make_agreement(start=AT, until=AT + timedelta(hours=1)))
    record = person(categories=frozenset({"PII"}), fields={"person_name": "A"})
    viewer = make_viewer("CUS")
    before = gate.release(record, viewer, AT - timedelta(minutes=1))
    during = gate.release(record, viewer, AT + timedelta(minutes=1))
    after = gate.release(record, viewer, AT + timedelta(hours=2))
    assert withheld_reasons(before) == ("agreement-not-yet-valid",)
    assert isinstance(during, Released)
    assert withheld_reasons(after) == ("agreement-expired",)


def test_naive_time_is_refused(policies: ReleasePolicies) -> None:
    with pytest.raises(InvalidInput):
        make_gate(policies).release(person(), make_viewer("BP"), datetime(2026, 1, 1))


def test_released_cannot_be_made_or_copied_outside_the_gate(policies: ReleasePolicies) -> None:
    explanation = Explanation(decision="full", policy_ids=(), deny_reasons=(), redacted=())
    with pytest.raises(TypeError, match="only by the release gate"):
        Released(Full(person()), viewer=make_viewer("BP"), at=AT, explanation=explanation, token=object())
    released = make_gate(policies).release(person(), make_viewer("BP"), AT)
    assert isinstance(released, Released)
    with pytest.raises(AttributeError):
        released._value = Full(person())
    for clone in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError):
            clone(released)
    assert "Ana" not in repr(released)


def test_withheld_carries_no_content_and_an_audit_form(policies: ReleasePolicies) -> None:
    result = make_gate(policies).release(person(), make_viewer("CUS"), AT)
    assert isinstance(result, Withheld)
    assert not hasattr(result, "record") and not hasattr(result, "fields")
    entry = result.decision_record()
    assert entry.decision == "withheld" and entry.deny_reasons == ("no-agreement",)
    assert ReleaseDecision.from_dict(entry.to_dict()) == entry
    assert "Ana" not in repr(result) and "Ana" not in str(entry.to_dict())


def test_shareable_refuses_undermarked_or_malformed_records() -> None:
    with pytest.raises(InvalidInput, match="carries PII"):
        person(categories=frozenset())
    with pytest.raises(InvalidInput):
        Shareable(
            kind="", record_id="x", marking=Marking(classification="SECRET", originator="BP"), fields={}
        )
    with pytest.raises(InvalidInput):
        Shareable(
            kind="k", record_id="x", marking=Marking(classification="SECRET", originator="BP"), fields={"": 1}
        )
    with pytest.raises(InvalidInput):
        Shareable(kind="k", record_id="x", marking="SECRET//REL TO BP", fields={})  # type: ignore[arg-type]


def test_hostile_strings_are_data_not_policy(policies: ReleasePolicies) -> None:
    # Agency codes, field names and ids go to Cedar as JSON values, never as policy text.
    gate = make_gate(policies)
    evil = '" || true || "'
    record = Shareable(
        kind=evil,
        record_id=evil,
        marking=Marking(classification="SECRET", originator="BP", tlp=Tlp.AMBER),
        fields={evil: "x", "position": "y"},
    )
    viewer = make_viewer(evil, user_id=evil)
    assert withheld_reasons(gate.release(record, viewer, AT)) == ("no-agreement", "not-releasable")


def test_release_many_and_counts_skip_withheld(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    records = [sighting(), person(), sighting(rel_to=frozenset({"IMM"}))]
    viewer = make_viewer("CUS")
    visible = gate.release_many(records, viewer, AT)
    assert [r.record.record_id for r in visible] == ["t-1"]
    assert gate.count_visible(records, viewer, AT) == 1
    page = gate.page_visible(records * 3, viewer, AT, offset=1, limit=1)
    assert page.total == 3 and len(page.items) == 1
    with pytest.raises(InvalidInput):
        gate.page_visible(records, viewer, AT, offset=-1)


def test_release_gate_satisfies_the_gate_contract(policies: ReleasePolicies) -> None:
    gate: Gate = make_gate(policies)
    assert gate.count_visible([sighting()], make_viewer("CUS"), AT) == 1


def test_uncached_gate_decides_the_same(policies: ReleasePolicies) -> None:
    agreement = make_agreement("BP", "CUS", categories={"PII"}, fields={"person_name"})
    cached, uncached = make_gate(policies, agreement), make_gate(policies, agreement, cache_size=0)
    for viewer in (make_viewer("CUS"), make_viewer("BP"), make_viewer("IMM")):
        assert cached.explain(person(), viewer, AT) == uncached.explain(person(), viewer, AT)
    assert uncached.cache_info()["size"] == 0


def test_times_in_other_zones_are_equivalent(policies: ReleasePolicies) -> None:
    from datetime import timezone

    gate = make_gate(policies, make_agreement(start=AT, until=AT + timedelta(hours=1)))
    record = person(categories=frozenset({"PII"}), fields={"person_name": "A"})
    local = AT.astimezone(timezone(timedelta(hours=-5))) + timedelta(minutes=1)
    assert isinstance(gate.release(record, make_viewer("CUS"), local), Released)
    assert isinstance(gate.release(record, make_viewer("CUS"), AT.astimezone(UTC)), Released)
