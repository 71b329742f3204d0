"""Clocks: the system clock for live use and a manual clock for drills, replays and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from concord.domain.types import ensure_utc

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    """Wall-clock time, always aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, drills at any speed, replays)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start is not None else datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        moment = ensure_utc(moment)
        if moment < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = moment
