"""Agreements: validity, vocabulary, events (to_dict/from_dict), and the versioned agreement set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.sharing.sharing_support import AGENCY_CODES, AT, make_agreement

from concord.domain.agreement import (
    Agreement,
    AgreementAmended,
    AgreementRevoked,
    AgreementSet,
    AgreementSigned,
    AgreementVocabulary,
    agreement_event_from_dict,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound


def test_status_over_time() -> None:
    agreement = make_agreement(start=AT, until=AT + timedelta(days=1))
    assert agreement.status_at(AT - timedelta(seconds=1)) == "not-yet-valid"
    assert agreement.status_at(AT) == "in-force"
    assert agreement.status_at(AT + timedelta(days=1)) == "expired"
    assert make_agreement(until=None).status_at(AT + timedelta(days=3650)) == "in-force"
    revoked = make_agreement(revoked=True)
    assert revoked.status_at(AT) == "revoked" and not revoked.in_force_at(AT)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"owner": "BP", "partner": "BP"}, "partner"),
        ({"until": AT - timedelta(days=60)}, "valid_until"),
        ({"agreement_id": "x" * 500}, "agreement_id"),
        ({"version": 0}, "version"),
    ],
)
def test_invalid_agreements(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        make_agreement(**kwargs)
    assert info.value.details["field"] == field


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        Agreement(agreement_id="a", owner="BP", partner="CUS", valid_from=datetime(2026, 1, 1))


def test_vocabulary_validation() -> None:
    vocab = AgreementVocabulary(agencies=AGENCY_CODES)
    assert vocab.validate(make_agreement()).owner == "BP"
    with pytest.raises(InvalidInput, match="unknown agency"):
        vocab.validate(make_agreement(partner="NSA"))
    with pytest.raises(InvalidInput, match="unknown categories"):
        vocab.validate(make_agreement(categories={"FINANCE"}))
    with pytest.raises(InvalidInput, match="unknown fields"):
        vocab.validate(make_agreement(fields={"bank_account"}))
    custom = AgreementVocabulary(agencies=AGENCY_CODES, fields=frozenset({"bank_account"}))
    assert custom.validate(make_agreement(fields={"bank_account"})).fields == {"bank_account"}


@given(
    st.frozensets(st.sampled_from(["PII", "BIOMETRIC", "INTEL-SOURCE"])),
    st.frozensets(st.sampled_from(["person_name", "biometrics", "document_number"])),
    st.booleans(),
    st.one_of(st.none(), st.integers(min_value=1, max_value=1000)),
)
@settings(max_examples=40)
def test_events_round_trip(
    categories: frozenset[str], fields: frozenset[str], reshare: bool, days: int | None
) -> None:
    agreement = make_agreement(
        categories=categories,
        fields=fields,
        may_reshare=reshare,
        until=None if days is None else AT + timedelta(days=days),
    )
    events: list[AgreementSigned | AgreementAmended | AgreementRevoked] = [
        AgreementSigned(agreement=agreement, occurred_at=AT),
        AgreementAmended(agreement=agreement, occurred_at=AT),
        AgreementRevoked(agreement_id=agreement.agreement_id, occurred_at=AT, reason="breach"),
    ]
    for event in events:
        data = event.to_dict()
        assert data["type"] == type(event).__name__
        assert agreement_event_from_dict(data) == event
        assert type(event).from_dict(data) == event


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"type": "AgreementBurned"},
        {"type": "AgreementSigned"},
        {"type": "AgreementSigned", "agreement": "nope", "occurred_at": AT.isoformat()},
        {"type": "AgreementSigned", "agreement": {"agreement_id": "a"}, "occurred_at": AT.isoformat()},
        {"type": "AgreementRevoked", "agreement_id": "a", "occurred_at": "yesterday"},
        {"type": "AgreementRevoked", "agreement_id": "a", "occurred_at": "2026-01-01T00:00:00"},
        {
            "type": "AgreementRevoked",
            "agreement_id": "'; DROP TABLE agreements; --" * 20,
            "occurred_at": AT.isoformat(),
        },
        {"type": "AgreementRevoked", "agreement_id": 7, "occurred_at": AT.isoformat()},
        {"type": ["AgreementSigned"]},
    ],
)
def test_hostile_event_dicts_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        agreement_event_from_dict(data)


def test_hostile_agreement_fields() -> None:
    base = make_agreement().to_dict()
    for bad in (
        {"categories": "PII"},
        {"fields": [1, 2]},
        {"valid_from": float("nan")},
        {"version": True},
        {"may_reshare": "yes"},
        {"owner": ""},
    ):
        with pytest.raises(InvalidInput):
            Agreement.from_dict({**base, **bad})


def test_set_applies_events_and_bumps_version() -> None:
    signed = make_agreement(start=AT, until=AT + timedelta(days=10))
    s1 = AgreementSet().apply(AgreementSigned(agreement=signed, occurred_at=AT))
    assert s1.version == 1 and s1.between("BP", "CUS") == (signed,)
    assert s1.boundaries == (AT, AT + timedelta(days=10))
    amended = make_agreement(start=AT, until=None, categories={"PII", "BIOMETRIC"}, version=2)
    s2 = s1.apply(AgreementAmended(agreement=amended, occurred_at=AT))
    assert s2.version == 2 and s2.get(signed.agreement_id).categories == {"PII", "BIOMETRIC"}
    s3 = s2.apply(AgreementRevoked(agreement_id=signed.agreement_id, occurred_at=AT))
    assert s3.version == 3 and s3.get(signed.agreement_id).revoked
    assert s3.get(signed.agreement_id).version == 3
    assert s1.get(signed.agreement_id).revoked is False  # sets are immutable
    replayed = AgreementSet.from_events(
        [
            AgreementSigned(agreement=signed, occurred_at=AT),
            AgreementAmended(agreement=amended, occurred_at=AT),
            AgreementRevoked(agreement_id=signed.agreement_id, occurred_at=AT),
        ]
    )
    assert replayed == s3


def test_set_refuses_events_that_do_not_fit() -> None:
    signed = make_agreement()
    s1 = AgreementSet().apply(AgreementSigned(agreement=signed, occurred_at=AT))
    with pytest.raises(Conflict):
        s1.apply(AgreementSigned(agreement=signed, occurred_at=AT))
    with pytest.raises(Conflict, match="version 2"):
        s1.apply(AgreementAmended(agreement=make_agreement(version=5), occurred_at=AT))
    with pytest.raises(Conflict, match="owner and partner"):
        s1.apply(
            AgreementAmended(
                agreement=make_agreement(agreement_id=signed.agreement_id, partner="IMM", version=2),
                occurred_at=AT,
            )
        )
    with pytest.raises(NotFound):
        s1.apply(AgreementRevoked(agreement_id="nope", occurred_at=AT))
    s2 = s1.apply(AgreementRevoked(agreement_id=signed.agreement_id, occurred_at=AT))
    with pytest.raises(Conflict):
        s2.apply(AgreementRevoked(agreement_id=signed.agreement_id, occurred_at=AT))
    with pytest.raises(Conflict):
        s2.apply(AgreementAmended(agreement=make_agreement(version=3), occurred_at=AT))
    with pytest.raises(InvalidInput):
        AgreementSet().apply(AgreementSigned(agreement=make_agreement(revoked=True), occurred_at=AT))
    with pytest.raises(Conflict):
        AgreementSet.of([signed, signed])


def test_times_are_normalised_to_utc() -> None:
    from datetime import timezone

    plus2 = timezone(timedelta(hours=2))
    agreement = make_agreement(start=datetime(2026, 1, 1, 2, 0, tzinfo=plus2))
    assert agreement.valid_from == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
