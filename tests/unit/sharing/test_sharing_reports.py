"""Dry runs of agreement changes, access reports, and re-share authorisation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.sharing.sharing_support import AT, make_agreement, make_gate, make_viewer

from concord.domain.agreement import AgreementSet
from concord.domain.errors import InvalidInput, NotAuthorized
from concord.domain.marking import Marking, Tlp
from concord.sharing import (
    RecordRef,
    ReleaseDecision,
    ReleasePolicies,
    Shareable,
    access_report,
    authorize_reshare,
    dry_run,
)


def record(
    record_id: str, categories: frozenset[str], fields: dict[str, str], originator: str = "BP"
) -> Shareable:
    return Shareable(
        kind="person",
        record_id=record_id,
        marking=Marking(
            classification="RESTRICTED",
            originator=originator,
            rel_to=frozenset({"CUS", "IMM"}),
            tlp=Tlp.AMBER,
            categories=categories,
        ),
        fields=fields,
    )


RECORDS = [
    record("p1", frozenset({"PII"}), {"person_name": "A", "document_number": "D1", "position": "x"}),
    record("p2", frozenset({"LAW-ENFORCEMENT-SENSITIVE"}), {"position": "y"}),
    record("c1", frozenset({"PII"}), {"person_name": "C"}, originator="CUS"),
]


def test_dry_run_reports_gains_and_losses(policies: ReleasePolicies) -> None:
    current = AgreementSet.of(
        [make_agreement("BP", "CUS", categories={"PII"}, fields={"person_name"})], version=3
    )
    proposed = AgreementSet.of(
        [
            make_agreement("BP", "CUS", categories={"PII"}, fields={"person_name", "document_number"}),
            make_agreement("BP", "IMM", agreement_id="BP-IMM", categories={"LAW-ENFORCEMENT-SENSITIVE"}),
        ],
        version=4,
    )
    gate = make_gate(policies)
    untouched = gate.agreements
    viewers = {"CUS": [make_viewer("CUS")], "IMM": [make_viewer("IMM")], "BP": [make_viewer("BP")]}
    report = dry_run(gate, RECORDS, viewers, current, proposed, AT)
    cus, imm, bp = report["CUS"], report["IMM"], report["BP"]
    assert cus.gained == () and cus.lost == ()
    assert cus.fields_gained == {RecordRef("person", "p1"): ("document_number",)}
    # IMM gains p2, and p1 with its PII fields redacted (the new agreement does not cover PII).
    assert imm.gained == (RecordRef("person", "p1"), RecordRef("person", "p2")) and imm.lost == ()
    assert bp.unchanged
    assert gate.agreements is untouched
    # Going back is the mirror image.
    back = dry_run(gate, RECORDS, viewers, proposed, current, AT)
    assert back["IMM"].lost == (RecordRef("person", "p1"), RecordRef("person", "p2"))
    assert back["CUS"].fields_lost == {RecordRef("person", "p1"): ("document_number",)}
    assert back["CUS"].to_dict()["fields_lost"] == [
        {"kind": "person", "record_id": "p1", "fields": ["document_number"]}
    ]


def test_access_report_summarises_by_agreement_and_category(policies: ReleasePolicies) -> None:
    gate = make_gate(policies, make_agreement("BP", "CUS", categories={"PII"}, fields={"person_name"}))
    decisions: list[ReleaseDecision] = []
    for offset_h, viewer in (
        (0, make_viewer("CUS")),
        (1, make_viewer("CUS", user_id="cus-2")),
        (0, make_viewer("IMM")),
    ):
        for item in RECORDS:
            decisions.append(gate.release(item, viewer, AT + timedelta(hours=offset_h)).decision_record())
    report = access_report(decisions, recipient="CUS", originator="BP", start=AT, end=AT + timedelta(hours=2))
    assert (report.full, report.redacted, report.withheld) == (0, 2, 2)
    assert report.by_agreement == {"BP-CUS": 2}
    assert report.by_category == {"PII": 2}
    assert [d.record_id for d in report.withheld_requests] == ["p2", "p2"]
    assert {r for d in report.withheld_requests for r in d.deny_reasons} == {"category-not-covered"}
    early = access_report(decisions, recipient="CUS", originator="BP", start=AT, end=AT + timedelta(hours=1))
    assert early.released == 1 and early.withheld == 1
    assert report.to_dict()["withheld_requests"][0]["decision"] == "withheld"
    with pytest.raises(InvalidInput):
        access_report(decisions, recipient="CUS", originator="BP", start=AT, end=AT)


def test_decision_records_round_trip_and_refuse_unknown_codes(policies: ReleasePolicies) -> None:
    gate = make_gate(policies)
    entry = gate.release(RECORDS[0], make_viewer("CUS"), AT).decision_record()
    assert ReleaseDecision.from_dict(entry.to_dict()) == entry
    with pytest.raises(ValueError):
        ReleaseDecision.from_dict({**entry.to_dict(), "deny_reasons": ["because"]})
    with pytest.raises(ValueError):
        ReleaseDecision.from_dict({**entry.to_dict(), "decision": "maybe"})


def test_reshare_needs_a_narrowing_marking_and_an_agreement_that_allows_it() -> None:
    original = RECORDS[0].marking
    narrower = Marking(
        classification="CONFIDENTIAL",
        originator="BP",
        rel_to=frozenset({"CUS"}),
        tlp=Tlp.AMBER,
        categories=frozenset({"PII"}),
    )
    allowing = AgreementSet.of([make_agreement("BP", "CUS", may_reshare=True)])
    refusing = AgreementSet.of([make_agreement("BP", "CUS", may_reshare=False)])
    assert authorize_reshare(allowing, original, narrower, by_agency="CUS", at=AT) is narrower
    assert authorize_reshare(refusing, original, narrower, by_agency="BP", at=AT) is narrower
    with pytest.raises(NotAuthorized, match="re-share"):
        authorize_reshare(refusing, original, narrower, by_agency="CUS", at=AT)
    with pytest.raises(NotAuthorized):
        authorize_reshare(allowing, original, narrower, by_agency="CUS", at=AT + timedelta(days=90))
    with pytest.raises(InvalidInput):
        authorize_reshare(allowing, narrower, original, by_agency="CUS", at=AT)
    strict = Marking(
        classification="RESTRICTED", originator="BP", rel_to=frozenset({"CUS"}), tlp=Tlp.AMBER_STRICT
    )
    with pytest.raises(NotAuthorized, match="AMBER\\+STRICT"):
        authorize_reshare(allowing, strict, strict, by_agency="CUS", at=AT)
