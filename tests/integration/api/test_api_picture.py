"""Observations in, tracks and alerts out, over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from concord.adapters.db import journal, observations
from concord.bootstrap import Concord
from concord.drills.sim import Scenario, ScenarioConfig
from tests.factories import PASSWORD, small_world


def _bearer(api: TestClient, username: str) -> dict[str, str]:
    r = api.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _count(concord: Concord, table: sa.Table) -> int:
    with concord.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _obs(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"bp-radar-{i}",
        "sensor": "radar",
        "observed_at": "2026-03-01T12:00:00Z",
        "lat": 41.3 + i * 0.01,
        "lon": 26.5,
        "position_sigma_m": 25.0,
        "identity": f"plate:{i}",
        **extra,
    }


def test_post_observations_makes_tracks_visible_to_own_agency_only(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    bp = _bearer(api, "bp.op")
    r = api.post("/api/observations", json={"observations": [_obs(1), _obs(2)]}, headers=bp)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2 and r.json()["tracks_updated"] == 2
    tracks = api.get("/api/tracks", headers=bp).json()
    assert tracks["count"] == 2
    track = tracks["data"][0]
    assert track["marking"]["originator"] == "BP" and track["marking"]["banner"].startswith("RESTRICTED")
    assert api.get(f"/api/tracks/{track['id']}", headers=bp).status_code == 200
    # Coast Guard has no agreement with Border Police: nothing, and no hint that anything exists.
    cg = _bearer(api, "cg.op")
    assert api.get("/api/tracks", headers=cg).json() == {"data": [], "count": 0, "offset": 0, "limit": 200}
    assert api.get(f"/api/tracks/{track['id']}", headers=cg).status_code == 404


def test_redelivered_observations_change_nothing_twice(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    bp = _bearer(api, "bp.op")
    body = {"observations": [_obs(1)]}
    assert api.post("/api/observations", json=body, headers=bp).json()["accepted"] == 1
    again = api.post("/api/observations", json=body, headers=bp).json()
    assert again["accepted"] == 0 and again["duplicates"] == 1
    assert _count(concord, observations) == 1


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lat": "NaN"}, "lat"),
        ({"lon": float("inf")}, "lon"),
        ({"observed_at": "not a time"}, "observed_at"),
        ({"sensor": "telepathy"}, "sensor"),
        ({"extra": "field"}, "extra"),
        ({"identity": "x" * 100_000}, "identity"),
    ],
)
def test_bad_batches_are_refused_whole_and_name_the_item(
    api: TestClient, concord: Concord, item: dict[str, object], field: str
) -> None:
    small_world(concord)
    body = json.dumps({"observations": [_obs(1), _obs(2, **item)]}, allow_nan=True)
    r = api.post(
        "/api/observations",
        content=body,
        headers={**_bearer(api, "bp.op"), "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    rejections = error["details"]["rejections"]
    assert rejections
    # The bad item is named by its path, or the body as a whole is refused (Infinity is not JSON).
    assert rejections[0]["path"] is None or rejections[0]["path"].startswith("observations[1]")
    assert field in error["message"] or rejections[0]["path"] is None
    assert _count(concord, observations) == 0


def test_partial_acceptance_keeps_the_good_items(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    body = {"observations": [_obs(1), _obs(2, lat=95)]}
    r = api.post("/api/observations?partial=true", json=body, headers=_bearer(api, "bp.op"))
    assert r.status_code == 202
    assert r.json()["accepted"] == 1 and len(r.json()["rejected"]) == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'{"observations": 5}', b"\xff\xfe", b'{"observations": [' + b"1," * 20000 + b"1]}"],
)
def test_malformed_bodies(api: TestClient, concord: Concord, body: bytes) -> None:
    small_world(concord)
    r = api.post(
        "/api/observations",
        content=body,
        headers={**_bearer(api, "bp.op"), "content-type": "application/json"},
    )
    assert r.status_code in (413, 422), r.text
    assert r.json()["error"]["code"] in ("invalid-input", "payload-too-large")


def test_auditors_cannot_feed(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    concord.accounts.create_user("bp.aud", "BP", ["auditor"], "SECRET", password=PASSWORD)
    r = api.post("/api/observations", json={"observations": [_obs(1)]}, headers=_bearer(api, "bp.aud"))
    assert r.status_code == 403


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "10,10,5,5", "0,0,0,200"])
def test_bad_bbox(api: TestClient, concord: Concord, bbox: str) -> None:
    small_world(concord)
    r = api.get("/api/tracks", params={"bbox": bbox}, headers=_bearer(api, "bp.op"))
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "bbox"


@pytest.mark.parametrize("track_id", ["..%2F..%2Fetc", "x" * 65, "a b", "1;DROP TABLE records"])
def test_hostile_ids(api: TestClient, concord: Concord, track_id: str) -> None:
    small_world(concord)
    r = api.get(f"/api/tracks/{track_id}", headers=_bearer(api, "bp.op"))
    assert r.status_code in (404, 422)
    assert set(r.json()) == {"error"}


def test_zones_and_alerts_from_the_scenario(api: TestClient, concord: Concord) -> None:
    """Zones imported over the API, a crossing in the simulator raises an alert, BP acknowledges it."""
    small_world(concord)
    scenario = Scenario.from_config(
        ScenarioConfig(
            seed=7,
            start=concord.clock.now(),
            walkers=0,
            vehicles=0,
            boats=0,
            vessels=0,
            patrols=0,
            rendezvous_count=0,
            output="observations",
            exercise=False,
        )
    )
    admin = _bearer(api, "joc.admin")
    r = api.post("/api/zones", content=json.dumps(scenario.zones_geojson()), headers=admin)
    assert r.status_code == 201, r.text
    zones = api.get("/api/zones", headers=_bearer(api, "bp.op")).json()
    assert zones["type"] == "FeatureCollection" and zones["count"] == r.json()["imported"]
    scenario.inject_crossing(concord.clock.now() + timedelta(seconds=300), inbound=True)
    for step in scenario.run(420, 5.0):
        concord.clock.set(step.time)  # type: ignore[attr-defined]
        concord.picture.ingest(step.observations, actor="sim")
        concord.picture.tick()
    bp = _bearer(api, "bp.op")
    alerts = api.get("/api/alerts", headers=bp).json()
    assert alerts["count"] >= 1, "the crossing raised an alert visible to Border Police"
    alert = alerts["data"][0]
    acked = api.post(f"/api/alerts/{alert['id']}/ack", json={"note": "patrol sent"}, headers=bp)
    assert acked.status_code == 200, acked.text
    assert acked.json()["fields"]["acknowledged_by"] == concord.accounts.get_user_by_username("bp.op").id
    again = api.post(f"/api/alerts/{alert['id']}/ack", json={}, headers=bp)
    assert again.status_code == 409
    assert _count(concord, journal) > 0


def test_bad_zone_files(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    admin = _bearer(api, "joc.admin")
    for body in (
        b"{}",
        b"not json",
        json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]}).encode(),
    ):
        r = api.post("/api/zones", content=body, headers=admin)
        assert r.status_code == 422, r.text
    assert api.post("/api/zones", content=b"{}", headers=_bearer(api, "bp.op")).status_code == 403


def test_exercise_reports_never_join_live_tracks(concord: Concord) -> None:
    """A drill running beside live operations: same identity, same place, two separate tracks."""
    from concord.domain.marking import Marking
    from concord.domain.observation import Observation, SensorKind

    small_world(concord)

    def obs(i: int, exercise: bool) -> Observation:
        return Observation(
            id=f"o-{i}-{exercise}",
            source="radar:BP-1",
            agency="BP",
            sensor=SensorKind.RADAR,
            observed_at=concord.clock.now(),
            lat=41.3,
            lon=26.5,
            marking=Marking.default_for("BP"),
            identity="mmsi:211000001",
            exercise=exercise,
        )

    concord.picture.ingest([obs(1, False), obs(1, True)], actor="test")
    concord.clock.advance(5)  # type: ignore[attr-defined]
    concord.picture.ingest([obs(2, True), obs(2, False)], actor="test")
    from concord.adapters.records_store import iter_records

    with concord.engine.connect() as conn:
        tracks = list(iter_records(conn, "track"))
    assert sorted(t.exercise for t in tracks) == [False, True]
    assert len({t.id for t in tracks}) == 2
