"""CAP 1.2 messages built from released alerts: every kind valid, the mapping, redaction, exercise."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.cap.cap_support import AT, CONFIG, make_alert, release, viewer

from concord.domain.alert import AlertKind, ImpactLevel
from concord.domain.errors import InvalidInput
from concord.domain.identity import Role
from concord.domain.marking import Marking, Tlp
from concord.egress.cap import (
    CAP_NS,
    EVENT_NAMES,
    CapConfig,
    build_atom_feed,
    build_cap,
    build_cap_message,
    cap_identifier,
    cap_schema,
    cap_time,
    certainty_for,
    severity_for,
    urgency_for,
    validate_atom,
    validate_cap,
)
from concord.sharing import ReleaseGate, Withheld

NS = {"cap": CAP_NS}
REFERENCE = re.compile(r"^[^\s,<&]+,[^\s,<&]+,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def _root(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def _text(root: ET.Element, path: str) -> str | None:
    found = root.find(path, NS)
    return None if found is None else found.text


def _parameters(root: ET.Element) -> dict[str, str]:
    return {
        p.findtext("cap:valueName", "", NS): p.findtext("cap:value", "", NS)
        for p in root.findall("cap:info/cap:parameter", NS)
    }


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("impact", list(ImpactLevel))
def test_cap_every_kind_and_impact_is_valid(gate: ReleaseGate, kind: AlertKind, impact: ImpactLevel) -> None:
    xml = build_cap(release(gate, make_alert(kind, impact=impact), viewer()), CONFIG)
    assert validate_cap(xml) == []
    # The XSD alone agrees (the checker is not hiding schema errors).
    assert cap_schema().is_valid(_root(xml))
    root = _root(xml)
    assert _text(root, "cap:info/cap:event") == EVENT_NAMES[kind]
    assert _text(root, "cap:info/cap:category") == "Security"
    assert root.find("cap:info/cap:eventCode/cap:value", NS) is not None


def test_cap_every_kind_has_a_name() -> None:
    assert set(EVENT_NAMES) == set(AlertKind)


def test_cap_new_alert_mapping(gate: ReleaseGate) -> None:
    alert = make_alert(AlertKind.RENDEZVOUS, impact=ImpactLevel.VERY_HIGH, confidence=0.95)
    message = build_cap_message(release(gate, alert, viewer()), CONFIG)
    root = _root(message.xml)
    assert message.msg_type == "Alert"
    assert message.identifier == "concord.alert.alert-rendezvous.1"
    assert _text(root, "cap:identifier") == message.identifier
    assert _text(root, "cap:sender") == "concord@test-border"
    assert _text(root, "cap:sent") == "2026-11-25T18:00:00+00:00"
    assert _text(root, "cap:status") == "Actual"
    assert _text(root, "cap:msgType") == "Alert"
    assert _text(root, "cap:scope") == "Restricted"
    assert _text(root, "cap:restriction") == alert.marking.banner()
    assert root.find("cap:references", NS) is None
    assert _text(root, "cap:info/cap:urgency") == "Immediate"
    assert _text(root, "cap:info/cap:severity") == "Extreme"
    assert _text(root, "cap:info/cap:certainty") == "Observed"
    assert _text(root, "cap:info/cap:expires") == "2026-11-25T19:00:00+00:00"
    assert _text(root, "cap:info/cap:area/cap:circle") == "41.250000,26.625000 1"
    assert _text(root, "cap:info/cap:area/cap:areaDesc") == "Zones: section-3"
    params = _parameters(root)
    assert params["concord:marking"] == alert.marking.banner()
    assert params["EUROSUR:impact-level"] == "very-high"
    assert params["concord:confidence"] == "0.950"
    assert params["concord:track-ids"] == "T1 T2"
    description = _text(root, "cap:info/cap:description") or ""
    assert "speed_mps: 3.5" in description and alert.summary in description


def test_cap_update_references_the_original(gate: ReleaseGate) -> None:
    later = AT + timedelta(minutes=3)
    alert = make_alert(update_count=2, updated_at=later)
    xml = build_cap(release(gate, alert, viewer()), CONFIG)
    assert validate_cap(xml) == []
    root = _root(xml)
    assert _text(root, "cap:msgType") == "Update"
    assert _text(root, "cap:identifier") == "concord.alert.alert-border-crossing.3"
    references = _text(root, "cap:references") or ""
    assert all(REFERENCE.match(triple) for triple in references.split())
    assert references == "concord@test-border,concord.alert.alert-border-crossing.1,2026-11-25T18:00:00+00:00"
    assert _text(root, "cap:sent") == cap_time(later)


def test_cap_ended_alert_is_a_cancel(gate: ReleaseGate) -> None:
    ended = AT + timedelta(minutes=10)
    alert = make_alert(update_count=1, updated_at=ended, ended_at=ended)
    xml = build_cap(release(gate, alert, viewer()), CONFIG)
    assert validate_cap(xml) == []
    root = _root(xml)
    assert _text(root, "cap:msgType") == "Cancel"
    assert REFERENCE.match(_text(root, "cap:references") or "")
    assert _text(root, "cap:info/cap:urgency") == "Past"
    assert _text(root, "cap:info/cap:responseType") == "AllClear"
    assert root.find("cap:info/cap:expires", NS) is None


def test_cap_ended_without_updates_still_references_the_alert(gate: ReleaseGate) -> None:
    alert = make_alert(ended_at=AT)
    root = _root(build_cap(release(gate, alert, viewer()), CONFIG))
    assert _text(root, "cap:msgType") == "Cancel"
    assert (_text(root, "cap:references") or "").split(",")[1] == "concord.alert.alert-border-crossing.1"


def test_cap_exercise_alert_is_marked_exercise(gate: ReleaseGate) -> None:
    alert = make_alert(exercise=True)
    message = build_cap_message(release(gate, alert, viewer()), CONFIG)
    root = _root(message.xml)
    assert validate_cap(message.xml) == []
    assert message.status == "Exercise"
    assert _text(root, "cap:status") == "Exercise"
    assert "EXERCISE" in (_text(root, "cap:note") or "")
    assert (_text(root, "cap:info/cap:headline") or "").startswith("EXERCISE: ")


def test_cap_live_alert_is_actual_without_exercise_note(gate: ReleaseGate) -> None:
    root = _root(build_cap(release(gate, make_alert(), viewer()), CONFIG))
    assert _text(root, "cap:status") == "Actual"
    assert root.find("cap:note", NS) is None


def test_cap_redacted_fields_do_not_appear(gate: ReleaseGate) -> None:
    # An auditor of the originator below the record's level gets its metadata only: every field goes.
    secret = Marking(classification="SECRET", originator="BP", tlp=Tlp.AMBER)
    alert = make_alert(
        id="alert-0001",
        marking=secret,
        summary="CANARY-SUMMARY-7731",
        evidence={"canary": "CANARY-EVIDENCE"},
        track_ids=("CANARY-TRACK",),
        zone_ids=("CANARY-ZONE",),
        lat=41.2468,
    )
    auditor = viewer(clearance="RESTRICTED", roles=frozenset({Role.AUDITOR}))
    released = release(gate, alert, auditor)
    assert "summary" in released.redacted_fields
    xml = build_cap(released, CONFIG)
    assert validate_cap(xml) == []
    text = xml.decode()
    for leaked in ("CANARY", "41.2468", "border-crossing", "Severe", "<info"):
        assert leaked not in text
    root = _root(xml)
    assert root.find("cap:info", NS) is None
    assert _text(root, "cap:restriction") == secret.banner()
    assert _text(root, "cap:msgType") == "Alert"
    assert _text(root, "cap:identifier") == "concord.alert.alert-0001"


def test_cap_withheld_alert_cannot_be_built(gate: ReleaseGate) -> None:
    from concord.services.records import alert_row, shareable_of

    own_only = Marking(classification="RESTRICTED", originator="BP", tlp=Tlp.AMBER)
    result = gate.release(shareable_of(alert_row(make_alert(marking=own_only), seq=1)), viewer("CG"), AT)
    assert isinstance(result, Withheld)
    with pytest.raises(TypeError):
        build_cap(result, CONFIG)  # type: ignore[arg-type]


def test_cap_refuses_records_that_are_not_alerts(gate: ReleaseGate) -> None:
    from concord.sharing import Shareable

    track = Shareable(kind="track", record_id="T1", marking=Marking.default_for("BP"), fields={"id": "T1"})
    released = gate.release(track, viewer(), AT)
    assert not isinstance(released, Withheld)
    with pytest.raises(InvalidInput):
        build_cap(released, CONFIG)


def test_cap_hostile_content_is_escaped_and_valid(gate: ReleaseGate) -> None:
    alert = make_alert(
        id="a b,c<d&e/../f",
        summary="<script>alert(1)</script> ]]> &amp; \x00\x07 bell",
        evidence={"note": "'; DROP TABLE alerts; --", "nested": {"x": [1, 2, "<&>"]}},
        track_ids=("T <1>", "T&2"),
    )
    xml = build_cap(release(gate, alert, viewer()), CONFIG)
    assert validate_cap(xml) == []
    root = _root(xml)
    assert _text(root, "cap:identifier") == "concord.alert.a%20b%2Cc%3Cd%26e%2F..%2Ff.1"
    assert "<script>" in (_text(root, "cap:info/cap:headline") or "")
    assert "\x00" not in xml.decode()


def test_cap_long_summary_is_trimmed_for_the_headline(gate: ReleaseGate) -> None:
    alert = make_alert(summary="x" * 5000)
    root = _root(build_cap(release(gate, alert, viewer()), CONFIG))
    assert len(_text(root, "cap:info/cap:headline") or "") <= 160
    assert len(_text(root, "cap:info/cap:description") or "") >= 5000


def test_cap_alert_without_zones_describes_the_position(gate: ReleaseGate) -> None:
    root = _root(build_cap(release(gate, make_alert(zone_ids=()), viewer()), CONFIG))
    assert _text(root, "cap:info/cap:area/cap:areaDesc") == "Around 41.25000, 26.62500"


@pytest.mark.parametrize(
    ("impact", "severity", "urgency"),
    [
        (ImpactLevel.VERY_HIGH, "Extreme", "Immediate"),
        (ImpactLevel.HIGH, "Severe", "Immediate"),
        (ImpactLevel.MEDIUM, "Moderate", "Expected"),
        (ImpactLevel.LOW, "Minor", "Future"),
        (None, "Unknown", "Unknown"),
    ],
)
def test_cap_impact_mapping(impact: ImpactLevel | None, severity: str, urgency: str) -> None:
    assert severity_for(impact) == severity
    assert urgency_for(impact) == urgency
    assert urgency_for(impact, ended=True) == "Past"


@pytest.mark.parametrize(
    ("confidence", "certainty"),
    [
        (1.0, "Observed"),
        (0.9, "Observed"),
        (0.89, "Likely"),
        (0.51, "Likely"),
        (0.5, "Possible"),
        (0.06, "Possible"),
        (0.05, "Unlikely"),
        (0.0, "Unlikely"),
        (None, "Unknown"),
        (float("nan"), "Unknown"),
    ],
)
def test_cap_confidence_mapping(confidence: float | None, certainty: str) -> None:
    assert certainty_for(confidence) == certainty


def test_cap_time_has_a_numeric_offset() -> None:
    assert cap_time(AT) == "2026-11-25T18:00:00+00:00"
    with pytest.raises(InvalidInput):
        cap_time(AT.replace(tzinfo=None))


def test_cap_identifier_is_stable_per_version() -> None:
    assert cap_identifier(CONFIG, "alert-1", 2) == cap_identifier(CONFIG, "alert-1", 2)
    assert cap_identifier(CONFIG, "alert-1", 2) != cap_identifier(CONFIG, "alert-1", 3)


@pytest.mark.parametrize(
    "bad",
    [
        {"sender": "has space"},
        {"sender": "a,b"},
        {"sender": ""},
        {"sender": "x<y"},
        {"sender": "ok", "identifier_prefix": "p&q"},
        {"sender": "ok", "radius_km": float("nan")},
        {"sender": "ok", "radius_km": -1.0},
        {"sender": "ok", "expires_after_s": 0.0},
        {"sender": "ok", "expires_after_s": float("inf")},
    ],
)
def test_cap_config_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        CapConfig(**bad)  # type: ignore[arg-type]


def test_cap_config_for_deployment_makes_a_clean_sender() -> None:
    assert CapConfig.for_deployment("eastern border, <north>").sender == "concord@eastern-border-north"
    assert CapConfig.for_deployment("  ").sender == "concord@concord"


def test_cap_atom_feed_links_every_entry(gate: ReleaseGate) -> None:
    items = [release(gate, make_alert(kind), viewer()) for kind in AlertKind]
    feed = build_atom_feed(
        items,
        CONFIG,
        feed_id="urn:concord:test-feed",
        self_url="http://concord.test/api/cap/alerts.atom",
        cap_url=lambda alert_id: f"http://concord.test/api/cap/alerts/{alert_id}.xml",
        updated=AT,
        next_url="http://concord.test/api/cap/alerts.atom?offset=9",
    )
    assert validate_atom(feed) == []
    root = ET.fromstring(feed)
    atom = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", atom)
    assert len(entries) == len(AlertKind)
    hrefs = {e.find("a:link", atom).get("href") for e in entries}  # type: ignore[union-attr]
    assert hrefs == {f"http://concord.test/api/cap/alerts/alert-{k.value}.xml" for k in AlertKind}
    assert root.find("a:link[@rel='next']", atom) is not None


def test_cap_empty_atom_feed_is_valid() -> None:
    feed = build_atom_feed(
        [], CONFIG, feed_id="urn:x", self_url="http://t/a.atom", cap_url=lambda i: i, updated=AT
    )
    assert validate_atom(feed) == []
    assert ET.fromstring(feed).find("{http://www.w3.org/2005/Atom}entry") is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    alert_id=st.text(min_size=1, max_size=60),
    summary=st.text(max_size=300),
    confidence=st.floats(min_value=0.0, max_value=1.0),
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    update_count=st.integers(min_value=0, max_value=50),
    ended=st.booleans(),
    kind=st.sampled_from(list(AlertKind)),
    evidence=st.dictionaries(
        st.text(max_size=10), st.one_of(st.text(max_size=20), st.integers()), max_size=4
    ),
)
def test_cap_any_alert_gives_a_valid_message(
    gate: ReleaseGate,
    alert_id: str,
    summary: str,
    confidence: float,
    lat: float,
    lon: float,
    update_count: int,
    ended: bool,
    kind: AlertKind,
    evidence: dict[str, object],
) -> None:
    alert = make_alert(
        kind,
        id=alert_id,
        summary=summary,
        confidence=confidence,
        lat=lat,
        lon=lon,
        update_count=update_count,
        ended_at=AT if ended else None,
        evidence=evidence,
    )
    xml = build_cap(release(gate, alert, viewer()), CONFIG)
    assert validate_cap(xml) == []
