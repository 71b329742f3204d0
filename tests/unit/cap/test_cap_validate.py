"""validate_cap and validate_atom: each rule has a failing example that the checker catches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.egress.cap import CAP_PROBLEM_CODES, CapProblem, validate_atom, validate_cap

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'


def message(
    *,
    identifier: str = "concord.alert.a1.1",
    sender: str = "concord@test",
    sent: str = "2026-11-25T18:00:00-00:00",
    status: str = "Actual",
    msg_type: str = "Alert",
    scope: str = "Restricted",
    restriction: str | None = "RESTRICTED//REL TO BP//TLP:AMBER",
    addresses: str | None = None,
    references: str | None = None,
    info: str | None = None,
) -> bytes:
    parts = [
        HEAD,
        f"<identifier>{identifier}</identifier>",
        f"<sender>{sender}</sender>",
        f"<sent>{sent}</sent>",
        f"<status>{status}</status>",
        f"<msgType>{msg_type}</msgType>",
        f"<scope>{scope}</scope>",
    ]
    if restriction is not None:
        parts.append(f"<restriction>{restriction}</restriction>")
    if addresses is not None:
        parts.append(f"<addresses>{addresses}</addresses>")
    if references is not None:
        parts.append(f"<references>{references}</references>")
    parts.append(info if info is not None else INFO)
    parts.append("</alert>")
    return "".join(parts).encode()


def info(
    *,
    area: str = "<area><areaDesc>Zone A</areaDesc><circle>41.25,26.5 1</circle></area>",
    effective: str = "2026-11-25T18:00:00+00:00",
    expires: str = "2026-11-25T19:00:00+00:00",
) -> str:
    return (
        "<info><category>Security</category><event>Border crossing</event>"
        "<urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>"
        f"<effective>{effective}</effective><expires>{expires}</expires>{area}</info>"
    )


INFO = info()
REF = "concord@test,concord.alert.a1.1,2026-11-25T18:00:00+00:00"


def codes(problems: list[CapProblem]) -> set[str]:
    return {p.code for p in problems}


def test_cap_validate_accepts_a_good_message() -> None:
    assert validate_cap(message()) == []
    assert validate_cap(message(msg_type="Update", references=REF)) == []
    assert validate_cap(message(msg_type="Cancel", references=f"{REF} {REF.replace('.1,', '.2,')}")) == []
    assert validate_cap(message(scope="Private", restriction=None, addresses="bp-ops cg-ops")) == []
    polygon = "<area><areaDesc>A</areaDesc><polygon>41,26 41,27 42,27 41,26</polygon></area>"
    assert validate_cap(message(info=info(area=polygon))) == []


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (message(restriction=None), "restriction-missing"),
        (message(restriction="  "), "restriction-missing"),
        (message(scope="Private", restriction=None), "addresses-missing"),
        (message(msg_type="Update"), "references-missing"),
        (message(msg_type="Cancel"), "references-missing"),
        (message(msg_type="Update", references="concord@test,a1"), "references-format"),
        (
            message(msg_type="Update", references="concord@test;a1;2026-11-25T18:00:00+00:00"),
            "references-format",
        ),
        (message(msg_type="Update", references="concord@test,a1,2026-11-25T18:00:00Z"), "references-format"),
        (message(msg_type="Update", references="concord@test,a1,2026-11-25"), "references-format"),
        (message(msg_type="Update", references=",a1,2026-11-25T18:00:00+00:00"), "references-format"),
        (message(msg_type="Update", references="a,b,c,2026-11-25T18:00:00+00:00"), "references-format"),
        (message(msg_type="Update", references="   "), "references-format"),
        (message(sent="2026-11-25T18:00:00Z"), "time-format"),
        (message(sent="2026-11-25T18:00:00"), "time-format"),
        (message(sent="2026-11-25T18:00:00.123+00:00"), "time-format"),
        (message(sent="2026-02-30T18:00:00+00:00"), "time-format"),
        (message(info=info(expires="2026-11-25T19:00:00Z")), "time-format"),
        (message(info=info(effective="2026-11-25 18:00:00+00:00")), "time-format"),
        (message(info=info(expires="2026-11-25T17:00:00+00:00")), "time-order"),
        (message(identifier="has space"), "identifier-format"),
        (message(identifier="a,b"), "identifier-format"),
        (message(identifier="a&amp;b"), "identifier-format"),
        (message(identifier="a&lt;b"), "identifier-format"),
        (message(identifier=""), "identifier-format"),
        (message(sender="bad sender"), "identifier-format"),
        (
            message(
                info=info(area="<area><areaDesc>A</areaDesc><polygon>41,26 41,27 41,26</polygon></area>")
            ),
            "polygon-format",
        ),
        (
            message(
                info=info(
                    area="<area><areaDesc>A</areaDesc><polygon>41,26 41,27 42,27 42,26</polygon></area>"
                )
            ),
            "polygon-format",
        ),
        (
            message(
                info=info(
                    area="<area><areaDesc>A</areaDesc><polygon>91,26 41,27 42,27 91,26</polygon></area>"
                )
            ),
            "polygon-format",
        ),
        (
            message(
                info=info(
                    area="<area><areaDesc>A</areaDesc><polygon>41;26 41,27 42,27 41;26</polygon></area>"
                )
            ),
            "polygon-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>41.25,26.5</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>41.25,26.5 -1</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>41.25 26.5 1</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>141.25,26.5 1</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>41.25,26.5 nan</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><circle>41.25,inf 2</circle></area>")),
            "circle-format",
        ),
        (
            message(info=info(area="<area><areaDesc>A</areaDesc><ceiling>100</ceiling></area>")),
            "ceiling-without-altitude",
        ),
        (message(status="Real"), "schema"),
        (message(scope="Everyone"), "schema"),
        (message(info="<info><event>No category</event></info>"), "schema"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</identifier>", "malformed"),
        (b"", "malformed"),
        (b"not xml at all", "malformed"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>", "not-cap"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "not-cap"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>&lol2;</alert>",
            "forbidden-xml",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd">'
            b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>",
            "forbidden-xml",
        ),
    ],
)
def test_cap_validate_catches_each_rule(doc: bytes, code: str) -> None:
    problems = validate_cap(doc)
    assert code in codes(problems), problems
    assert all(p.code in CAP_PROBLEM_CODES for p in problems)


def test_cap_validate_refuses_oversized_documents() -> None:
    assert codes(validate_cap(message(), max_bytes=100)) == {"too-large"}


def test_cap_validate_refuses_non_bytes() -> None:
    assert codes(validate_cap("<alert/>")) == {"malformed"}  # type: ignore[arg-type]


def test_cap_problem_to_dict() -> None:
    problem = validate_cap(message(restriction=None))[0]
    assert problem.to_dict() == {
        "code": "restriction-missing",
        "message": problem.message,
        "path": "/alert/restriction",
    }


def test_cap_problem_codes_are_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "cap.md").read_text(encoding="utf-8")
    missing = sorted(code for code in CAP_PROBLEM_CODES if f"`{code}`" not in doc)
    assert missing == []


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_cap_validate_never_raises_on_junk(junk: bytes) -> None:
    problems = validate_cap(junk)
    assert problems
    assert all(isinstance(p, CapProblem) for p in problems)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_cap_validate_never_raises_on_any_identifier(identifier: str) -> None:
    from xml.sax.saxutils import escape

    problems = validate_cap(message(identifier=escape(identifier)))
    assert all(p.code in CAP_PROBLEM_CODES for p in problems)


ATOM = (
    '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>T</title>'
    "<updated>2026-11-25T18:00:00+00:00</updated><author><name>C</name></author>{entries}</feed>"
)
ENTRY = (
    "<entry><id>urn:e</id><title>E</title><updated>2026-11-25T18:00:00+00:00</updated>"
    '<link rel="alternate" type="application/cap+xml" href="http://t/a.xml"/></entry>'
)


def test_cap_validate_atom_accepts_a_good_feed() -> None:
    assert validate_atom(ATOM.format(entries=ENTRY * 2).encode()) == []


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (ATOM.replace("<id>urn:f</id>", "").format(entries=""), "atom-format"),
        (ATOM.replace("2026-11-25T18:00:00+00:00", "yesterday").format(entries=""), "atom-format"),
        (ATOM.format(entries=ENTRY.replace("<title>E</title>", "")), "atom-format"),
        (ATOM.format(entries=ENTRY.replace("application/cap+xml", "text/html")), "atom-format"),
        (ATOM.format(entries=ENTRY.replace(' href="http://t/a.xml"', "")), "atom-format"),
        (ATOM.replace("<author><name>C</name></author>", "").format(entries=ENTRY), "atom-format"),
        ("<feed/>", "not-atom"),
        ("<feed xmlns='http://www.w3.org/2005/Atom'>", "malformed"),
    ],
)
def test_cap_validate_atom_catches_each_rule(doc: str, code: str) -> None:
    assert code in codes(validate_atom(doc.encode()))
