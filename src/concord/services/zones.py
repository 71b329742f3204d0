"""Zones: imported from GeoJSON into the journal, kept as records, and handed to the rules engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from concord.adapters import records_store as store
from concord.adapters.db import records
from concord.adapters.journal import Projector, UnitOfWorkFactory
from concord.domain.events import JournalEvent, envelope
from concord.domain.marking import Marking, Tlp
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.domain.zone import Zone
from concord.rules import parse_zones, to_geojson

__all__ = ["ZoneService", "register_zone_projections", "zone_marking"]


def zone_marking(zone: Zone, importer_agency: str, agencies: Sequence[str] = ()) -> Marking:
    """Zones are shared geography unless the file marks them: unclassified, TLP:GREEN, REL TO every
    agency known at import time."""
    if zone.marking is not None:
        return zone.marking
    return Marking(
        classification="UNCLASSIFIED", originator=importer_agency, rel_to=frozenset(agencies), tlp=Tlp.GREEN
    )


def _zones_imported(conn: Connection, event: JournalEvent) -> None:
    zones = parse_zones(json.dumps(event.payload["geojson"]))
    if not zones:
        return
    first = store.next_seqs(conn, len(zones))
    rows = []
    for i, zone in enumerate(zones):
        feature = to_geojson([zone])["features"][0]
        centroid = zone.geometry.centroid
        rows.append(
            RecordRow(
                kind="zone",
                id=zone.id,
                version=1,
                seq=first + i,
                marking=zone_marking(zone, event.agency),
                exercise=event.exercise,
                status=zone.kind.value,
                lat=float(centroid.y),
                lon=float(centroid.x),
                updated_at=event.occurred_at,
                data={
                    "geometry": feature["geometry"],
                    **{k: v for k, v in feature["properties"].items() if k != "marking"},
                },
            )
        )
    store.upsert_records(conn, rows)


def _reset_zones(conn: Connection) -> None:
    conn.execute(records.delete().where(records.c.kind == "zone"))


def register_zone_projections(projector: Projector) -> None:
    projector.register("ZonesImported", _zones_imported)
    projector.add_reset(_reset_zones)


class ZoneService:
    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWorkFactory,
        clock: Clock,
        on_change: Sequence[Callable[[list[Zone]], None]] = (),
        agencies: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        self._agencies = agencies
        self._engine = engine
        self._uow = uow
        self._clock = clock
        self.on_change: list[Callable[[list[Zone]], None]] = list(on_change)
        self._signature: tuple[tuple[str, int], ...] | None = None

    def import_geojson(
        self, data: bytes | str, *, actor: str, agency: str, repair: bool = False
    ) -> list[Zone]:
        """Validate a FeatureCollection and record it; zones with existing ids are replaced."""
        known = list(self._agencies())
        zones = [replace(z, marking=zone_marking(z, agency, known)) for z in parse_zones(data, repair=repair)]
        geojson = to_geojson(zones)
        with self._uow() as uow:
            uow.append(
                envelope(
                    "ZonesImported",
                    {"geojson": geojson, "count": len(zones)},
                    at=self._clock.now(),
                    actor=actor,
                    agency=agency,
                    marking=Marking(classification="UNCLASSIFIED", originator=agency, tlp=Tlp.GREEN),
                )
            )
            uow.commit()
        self._notify()
        return zones

    def refresh(self) -> bool:
        """Tell the listeners when another process changed the zones since this one last looked.

        Processes sharing a database call this now and then (one small query); returns whether the
        zones had changed. The first call only notes what is stored.
        """
        stored = self._stored_signature()
        if self._signature is None:
            self._signature = stored
            return False
        if stored == self._signature:
            return False
        self._notify()
        return True

    def _notify(self) -> None:
        self._signature = self._stored_signature()
        current = self.zones()
        for listener in self.on_change:
            listener(current)

    def _stored_signature(self) -> tuple[tuple[str, int], ...]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(records.c.id, records.c.version)
                .where(records.c.kind == "zone")
                .order_by(records.c.id)
            ).all()
        return tuple((str(r.id), int(r.version)) for r in rows)

    def zones(self) -> list[Zone]:
        """Every stored zone (for the rules engine, which sees all geography)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(records.c.data).where(records.c.kind == "zone").order_by(records.c.id)
            )
            features: list[dict[str, Any]] = []
            for (data,) in rows:
                props = {k: v for k, v in data.items() if k != "geometry"}
                features.append({"type": "Feature", "geometry": data["geometry"], "properties": props})
        if not features:
            return []
        return parse_zones(json.dumps({"type": "FeatureCollection", "features": features}))

    def rows(self) -> list[RecordRow]:
        with self._engine.connect() as conn:
            return list(store.iter_records(conn, "zone"))
