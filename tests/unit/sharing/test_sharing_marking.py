"""Markings: banners, validation, re-share checks, and the combination laws (Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.domain.marking import (
    DEFAULT_CATEGORIES,
    DEFAULT_LADDER,
    ClassificationLadder,
    Marking,
    MarkingVocabulary,
    Tlp,
    check_reshare,
)

AGENCIES = ("BP", "CUS", "IMM", "CG", "ARMY", "INT")
VOCAB = MarkingVocabulary(agencies=frozenset(AGENCIES))

codes = st.sampled_from(AGENCIES)
agency_sets = st.frozensets(codes, max_size=4)
levels = st.sampled_from(DEFAULT_LADDER.levels)
categories = st.frozensets(st.sampled_from(sorted(DEFAULT_CATEGORIES)), max_size=3)
tlps = st.sampled_from(list(Tlp))
users = st.frozensets(st.sampled_from(["u1", "u2", "u3"]), max_size=3)


@st.composite
def markings(
    draw: st.DrawFn, originator: str | None = None, must_include: frozenset[str] = frozenset()
) -> Marking:
    tlp = draw(tlps)
    return Marking(
        classification=draw(levels),
        originator=originator or draw(codes),
        rel_to=draw(agency_sets) | must_include,
        tlp=tlp,
        categories=draw(categories),
        recipients=draw(users) if tlp is Tlp.RED else frozenset(),
    )


def test_banner_is_generated_from_the_parts() -> None:
    marking = Marking(
        classification="RESTRICTED",
        originator="BP",
        rel_to=frozenset({"CUS"}),
        tlp=Tlp.AMBER,
        categories=frozenset({"PII"}),
    )
    assert marking.banner() == "RESTRICTED//REL TO BP, CUS//TLP:AMBER//PII"
    own = Marking(classification="SECRET", originator="INT", tlp=Tlp.AMBER_STRICT)
    assert own.banner() == "SECRET//ORIGINATOR ONLY (INT)//TLP:AMBER+STRICT"


def test_originator_is_always_releasable_and_recipients_need_red() -> None:
    marking = Marking(classification="RESTRICTED", originator="BP")
    assert marking.rel_to == {"BP"} and marking.originator_only
    with pytest.raises(ValueError, match="TLP:RED"):
        Marking(classification="RESTRICTED", originator="BP", tlp=Tlp.AMBER, recipients=frozenset({"u1"}))


@given(markings())
@settings(max_examples=60)
def test_dict_round_trip_and_canonical_json(marking: Marking) -> None:
    assert Marking.from_dict(marking.to_dict()) == marking
    assert Marking.from_dict(marking.to_dict()).canonical_json() == marking.canonical_json()


def test_validation_rejects_unknown_classification() -> None:
    with pytest.raises(InvalidInput) as info:
        VOCAB.validate(Marking(classification="TOP SECRET", originator="BP"))
    assert info.value.details["field"] == "classification"


def test_validation_rejects_unknown_rel_to_agency() -> None:
    with pytest.raises(InvalidInput) as info:
        VOCAB.validate(Marking(classification="SECRET", originator="BP", rel_to=frozenset({"NSA", "CUS"})))
    assert info.value.details == {"field": "rel_to", "unknown": ["NSA"]}


def test_validation_rejects_unknown_originator_and_category() -> None:
    with pytest.raises(InvalidInput) as info:
        VOCAB.validate(Marking(classification="SECRET", originator="XX"))
    assert info.value.details["field"] == "originator"
    with pytest.raises(InvalidInput) as info:
        VOCAB.validate(Marking(classification="SECRET", originator="BP", categories=frozenset({"FINANCE"})))
    assert info.value.details["field"] == "categories"


def test_validation_accepts_a_configured_ladder_and_categories() -> None:
    ladder = ClassificationLadder(("OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET", "TOP SECRET"))
    vocab = MarkingVocabulary(agencies=frozenset({"BP"}), ladder=ladder, categories=frozenset({"FINANCE"}))
    marking = Marking(classification="TOP SECRET", originator="BP", categories=frozenset({"FINANCE"}))
    assert vocab.validate(marking) is marking


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ({"classification": "UNCLASSIFIED"}, "classification"),
        ({"rel_to": frozenset({"CUS", "IMM", "ARMY"})}, "rel_to"),
        ({"tlp": Tlp.GREEN}, "tlp"),
        ({"categories": frozenset()}, "categories"),
    ],
)
def test_check_reshare_refuses_each_widening(change: dict[str, object], part: str) -> None:
    original = Marking(
        classification="CONFIDENTIAL",
        originator="BP",
        rel_to=frozenset({"CUS", "IMM"}),
        tlp=Tlp.AMBER,
        categories=frozenset({"PII"}),
    )
    fields = {**original.to_dict(), **dict(change.items())}
    new = Marking(
        classification=str(fields["classification"]),
        originator="BP",
        rel_to=frozenset(fields["rel_to"]),
        tlp=Tlp(fields["tlp"]),
        categories=frozenset(fields["categories"]),
    )
    with pytest.raises(InvalidInput) as info:
        check_reshare(original, new)
    assert part in info.value.details["widened"]


def test_check_reshare_refuses_new_red_recipients_and_another_originator() -> None:
    original = Marking(classification="SECRET", originator="BP", tlp=Tlp.RED, recipients=frozenset({"u1"}))
    with pytest.raises(InvalidInput, match="recipients"):
        check_reshare(
            original,
            Marking(
                classification="SECRET", originator="BP", tlp=Tlp.RED, recipients=frozenset({"u1", "u2"})
            ),
        )
    with pytest.raises(InvalidInput, match="originator"):
        check_reshare(original, Marking(classification="SECRET", originator="CUS", tlp=Tlp.RED))
    with pytest.raises(InvalidInput, match="unknown classification"):
        check_reshare(original, Marking(classification="COSMIC", originator="BP", tlp=Tlp.RED))


@given(markings(), markings())
@settings(max_examples=80)
def test_check_reshare_accepts_any_narrowing(original: Marking, other: Marking) -> None:
    # Combining with anything only narrows, so it is always an acceptable re-share.
    narrowed = original.combine(other)
    assert check_reshare(original, narrowed) is narrowed


# -- combination laws ------------------------------------------------------------------------------
# They hold for legitimate combinations: the combining agency could see what it combined.


@st.composite
def legit_triple(draw: st.DrawFn) -> tuple[Marking, Marking, Marking]:
    oa, ob, oc = draw(codes), draw(codes), draw(codes)
    a = draw(markings(originator=oa))
    b = draw(markings(originator=ob, must_include=frozenset({oa})))
    c = draw(markings(originator=oc, must_include=frozenset({oa, ob})))
    return a, b, c


@given(legit_triple())
@settings(max_examples=120)
def test_combine_is_associative(triple: tuple[Marking, Marking, Marking]) -> None:
    a, b, c = triple
    assert a.combine(b).combine(c) == a.combine(b.combine(c))


@given(legit_triple())
@settings(max_examples=120)
def test_combine_is_commutative_in_all_but_originator(triple: tuple[Marking, Marking, Marking]) -> None:
    a, b, _ = triple
    # Both agencies could see the other's input (b already lists a's originator).
    a = Marking(
        classification=a.classification,
        originator=a.originator,
        rel_to=a.rel_to | {b.originator},
        tlp=a.tlp,
        categories=a.categories,
        recipients=a.recipients,
    )
    ab, ba = a.combine(b), b.combine(a)
    assert ab.originator == a.originator and ba.originator == b.originator
    assert (ab.classification, ab.rel_to, ab.tlp, ab.categories, ab.recipients) == (
        ba.classification,
        ba.rel_to,
        ba.tlp,
        ba.categories,
        ba.recipients,
    )


@given(markings())
@settings(max_examples=60)
def test_combine_is_idempotent(a: Marking) -> None:
    assert a.combine(a) == a


@given(legit_triple())
@settings(max_examples=120)
def test_combine_narrows_each_input(triple: tuple[Marking, Marking, Marking]) -> None:
    a, b, _ = triple
    combined = a.combine(b)
    assert combined.is_narrowing_of(a)
    assert combined.is_narrowing_of(b)
    assert combined.widening_parts(a) == [] and combined.widening_parts(b) == []


@given(markings(), markings(), markings())
@settings(max_examples=80)
def test_combining_more_never_widens(a: Marking, b: Marking, c: Marking) -> None:
    # Monotone: adding an input can only keep or narrow the classification, TLP, REL TO and categories.
    ab, abc = a.combine(b), a.combine(b).combine(c)
    assert DEFAULT_LADDER.rank(abc.classification) >= DEFAULT_LADDER.rank(ab.classification)
    assert abc.tlp.rank >= ab.tlp.rank
    assert abc.rel_to <= ab.rel_to
    assert abc.categories >= ab.categories


def test_combine_example() -> None:
    a = Marking(
        classification="RESTRICTED",
        originator="BP",
        rel_to=frozenset({"CUS", "IMM"}),
        tlp=Tlp.GREEN,
        categories=frozenset({"PII"}),
    )
    b = Marking(
        classification="CONFIDENTIAL",
        originator="CUS",
        rel_to=frozenset({"BP", "CG"}),
        tlp=Tlp.AMBER,
        categories=frozenset({"BIOMETRIC"}),
    )
    combined = a.combine(b)
    assert combined.banner() == "CONFIDENTIAL//REL TO BP, CUS//TLP:AMBER//BIOMETRIC//PII"
