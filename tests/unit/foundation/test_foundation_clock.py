from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from concord.adapters.clock import ManualClock, SystemClock
from concord.domain.types import ensure_utc


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.advance(30) == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 1, 1, tzinfo=UTC))


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC


def test_ensure_utc_refuses_naive_and_converts_offsets() -> None:
    with pytest.raises(ValueError):
        ensure_utc(datetime(2026, 1, 1))
    cet = timezone(timedelta(hours=1))
    assert ensure_utc(datetime(2026, 1, 1, 1, tzinfo=cet)) == datetime(2026, 1, 1, tzinfo=UTC)
