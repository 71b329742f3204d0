"""No leak through CAP: for generated viewers, the messages and the feed hold exactly what the gate released.

Alerts with markings of every combination (originator, level, REL TO, TLP, categories, exercise) are
planted; each viewer's CAP messages must be byte for byte the message built from what
``concord.queries`` releases to that viewer (404 where it releases nothing), and the feed must list
exactly the released alerts.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.factories import small_world
from tests.integration.cap.cap_plant import make_alert, plant, update_alert

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord
from concord.domain.agreement import Agreement
from concord.domain.errors import NotFound
from concord.domain.identity import Viewer
from concord.domain.marking import Marking, Tlp
from concord.egress.cap import CapConfig, build_cap, validate_atom, validate_cap

ATOM = {"a": "http://www.w3.org/2005/Atom"}

PROFILES = (
    ("operator", "RESTRICTED", ()),
    ("commander", "SECRET", ("PII",)),
    ("auditor", "UNCLASSIFIED", ()),
)


def _viewers(concord: Concord) -> dict[str, Viewer]:
    made: dict[str, Viewer] = {}
    for agency, (role, clearance, categories) in itertools.product(("BP", "CG", "JOC"), PROFILES):
        name = f"{agency.lower()}.leak.{role}"
        user = concord.accounts.create_user(name, agency, [role], clearance, categories=categories)
        made[name] = user.viewer()
    return made


def _markings(red_recipient: str) -> list[Marking]:
    out: list[Marking] = []
    for originator, level, partners, tlp, categories in itertools.product(
        ("BP", "CG"),
        ("UNCLASSIFIED", "RESTRICTED", "SECRET"),
        ((), ("BP", "CG", "JOC")),
        tuple(Tlp),
        ((), ("PII",), ("INTEL-SOURCE",)),
    ):
        out.append(
            Marking(
                classification=level,
                originator=originator,
                rel_to=frozenset(partners),
                tlp=tlp,
                categories=frozenset(categories),
                recipients=frozenset({red_recipient}) if tlp is Tlp.RED and partners else frozenset(),
            )
        )
    return out


@pytest.mark.slow
def test_cap_leaks_none_for_any_viewer(concord: Concord, api: TestClient, clock: ManualClock) -> None:
    from concord.domain.alert import AlertRaised

    small_world(concord)
    viewers = _viewers(concord)
    concord.sharing.sign(
        Agreement(
            agreement_id="bp-cg",
            owner="BP",
            partner="CG",
            valid_from=clock.now() - timedelta(days=1),
            categories=frozenset({"PII"}),
        ),
        actor="bp.admin",
    )
    concord.sharing.sign(
        Agreement(
            agreement_id="cg-joc-old",
            owner="CG",
            partner="JOC",
            valid_from=clock.now() - timedelta(days=10),
            valid_until=clock.now() - timedelta(days=1),
        ),
        actor="cg.admin",
    )
    red_recipient = viewers["cg.leak.commander"].user_id
    now = clock.now()
    alerts = [
        make_alert(f"alert-leak{i:03d}", now, marking, exercise=(i % 7 == 0))
        for i, marking in enumerate(_markings(red_recipient))
    ]
    plant(concord, *(AlertRaised(alert=a) for a in alerts))
    # Some alerts move on: updated, and ended.
    update_alert(concord, alerts[1], minutes=1)
    update_alert(concord, alerts[2], minutes=1, ended=True)
    clock.advance(5)

    config = CapConfig.for_deployment(concord.settings.region_name)
    seen_any = withheld = redacted = 0
    for name, viewer in viewers.items():
        headers = {"Authorization": f"Bearer {concord.accounts.issue_token(name).token}"}
        for exercise in (False, True):
            flag = str(exercise).lower()
            feed = api.get(
                f"/api/cap/alerts.atom?include_ended=true&exercise={flag}&limit=1000", headers=headers
            )
            assert feed.status_code == 200
            assert validate_atom(feed.content) == []
            expected = {
                r.record.record_id
                for r in concord.queries.page("alert", viewer, exercise=exercise, limit=1000).items
            }
            entries = ET.fromstring(feed.content).findall("a:entry", ATOM)
            listed = {
                e.find("a:link", ATOM).get("href", "").rsplit("/", 1)[1].removesuffix(".xml")  # type: ignore[union-attr]
                for e in entries
            }
            assert listed == expected, name
            assert len(entries) == len(expected)
            # Every canary in the feed belongs to an alert released to this viewer.
            for alert in alerts:
                if alert.id not in expected:
                    assert f"CANARY-{alert.id}".encode() not in feed.content
        for alert in alerts:
            response = api.get(f"/api/cap/alerts/{alert.id}.xml", headers=headers)
            try:
                released = concord.queries.get("alert", alert.id, viewer)
            except NotFound:
                assert response.status_code == 404, (name, alert.id)
                withheld += 1
                continue
            seen_any += 1
            assert response.status_code == 200, (name, alert.id)
            assert response.content == build_cap(released, config)
            assert validate_cap(response.content) == []
            text = response.text
            assert alert.marking.banner() in text
            if "summary" in released.redacted_fields:
                redacted += 1
                assert f"CANARY-{alert.id}" not in text
                assert f"T-{alert.id}" not in text
            else:
                assert f"CANARY-{alert.id}" in text
    # The run covers all three outcomes: released whole, released redacted, withheld.
    assert seen_any > redacted > 0
    assert withheld > 0
