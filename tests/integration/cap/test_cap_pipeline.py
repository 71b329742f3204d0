"""Alerts raised by the real pipeline (simulator zones and observations) export as valid CAP."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from tests.factories import small_world

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord
from concord.drills.sim import Scenario, ScenarioConfig
from concord.egress.cap import CAP_NS, validate_atom, validate_cap

ATOM = {"a": "http://www.w3.org/2005/Atom"}


def test_cap_pipeline_alerts_export_valid(concord: Concord, api: TestClient, clock: ManualClock) -> None:
    small_world(concord)
    scenario = Scenario.from_config(
        ScenarioConfig(seed=3, walkers=10, vehicles=5, boats=5, vessels=8, patrols=2, exercise=True)
    )
    clock.set(scenario.now)
    concord.zones.import_geojson(json.dumps(scenario.zones_geojson()).encode(), actor="bp.admin", agency="BP")
    raised = 0
    for step in scenario.run(900, 10):
        clock.set(scenario.now)
        if step.observations:
            raised += concord.picture.ingest(step.observations, actor="sim").alerts
    assert raised > 0

    checked = 0
    kinds: set[str] = set()
    for username in ("bp.op", "cg.op"):
        headers = {"Authorization": f"Bearer {concord.accounts.issue_token(username).token}"}
        viewer = concord.accounts.get_user_by_username(username).viewer()
        feed = api.get("/api/cap/alerts.atom?exercise=true&include_ended=true&limit=1000", headers=headers)
        assert validate_atom(feed.content) == []
        visible = concord.queries.page("alert", viewer, exercise=True, limit=1000)
        entries = ET.fromstring(feed.content).findall("a:entry", ATOM)
        assert len(entries) == min(visible.total, 1000)
        for released in visible.items[:60]:
            response = api.get(f"/api/cap/alerts/{released.record.record_id}.xml", headers=headers)
            assert response.status_code == 200
            assert validate_cap(response.content) == []
            root = ET.fromstring(response.content)
            assert root.findtext(f"{{{CAP_NS}}}status") == "Exercise"
            kinds.add(str(released.record.fields.get("kind")))
            checked += 1
    assert checked > 0
    assert kinds
