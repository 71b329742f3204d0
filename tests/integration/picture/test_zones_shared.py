"""Zones imported through one process reach the rules of every other process on the same database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FAST_HASHER
from tests.integration.coordination.coordination_world import zones_geojson

from concord.bootstrap import bootstrap
from concord.config import Settings


def test_a_zone_import_reaches_a_process_that_refreshes(tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=f"sqlite:///{tmp_path}/c.db", data_dir=tmp_path)
    importer = bootstrap(settings, password_hasher=FAST_HASHER)
    tracker = bootstrap(settings, password_hasher=FAST_HASHER)
    try:
        heard: list[int] = []
        tracker.zones.on_change.append(lambda zones: heard.append(len(zones)))
        assert tracker.zones.refresh() is False  # notes what is stored: nothing yet
        importer.zones.import_geojson(json.dumps(zones_geojson()), actor="test", agency="JOC")
        assert tracker.picture.rules.zones == ()
        assert tracker.zones.refresh() is True
        assert heard == [len(zones_geojson()["features"])]
        assert len(tracker.picture.rules.zones) == len(zones_geojson()["features"])
        assert tracker.zones.refresh() is False  # once per change
    finally:
        importer.close()
        tracker.close()
